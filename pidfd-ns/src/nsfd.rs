//! [`NsFd`]: an owned namespace file descriptor and the nsfs queries.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use pidfd_sys as uapi;

use crate::error::from_errno;
use crate::path::{self, Who};
use crate::{Error, Namespace, Result, sys};

/// An owned namespace file descriptor (an nsfs fd) that knows which [`Namespace`] it is.
///
/// Obtained from a process with [`PidFdNsExt::namespace`](crate::PidFdNsExt::namespace), from
/// the calling thread with [`NsFd::of_current_thread`], from another `NsFd` ([`parent`],
/// [`owning_user_namespace`]), or from any nsfs fd with `NsFd::try_from(OwnedFd)`. It keeps the
/// namespace alive while it is open, and works after the process it came from has exited.
///
/// # Kernel support
/// Namespace fds live on nsfs from 3.19 (`NSFS_MAGIC`); each method names the kernel its
/// call needs, and fails with [`pidfd::Error::Unsupported`] on an older one.
///
/// [`parent`]: NsFd::parent
/// [`owning_user_namespace`]: NsFd::owning_user_namespace
pub struct NsFd {
    fd: OwnedFd,
    kind: Namespace,
}

impl fmt::Debug for NsFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NsFd").field("fd", &self.fd.as_raw_fd()).field("namespace", &self.kind).finish()
    }
}

impl NsFd {
    /// Wraps an fd the kernel returned for a namespace of kind `kind`.
    pub(crate) fn new(fd: OwnedFd, kind: Namespace) -> NsFd {
        NsFd { fd, kind }
    }

    /// The calling thread's own namespace of kind `ns` (`/proc/thread-self/ns/<name>`), e.g.
    /// to compare with a process's, or to come back to after [`NsFd::enter`].
    ///
    /// # Kernel support
    /// `/proc/thread-self` (3.17) with the namespace file of the kind (see
    /// [`Namespace::since`]); needs `/proc` mounted.
    ///
    /// # Errors
    /// [`Error::NamespaceDisabled`] when the kernel has no namespaces of this kind;
    /// [`pidfd::Error::Os`] when `/proc` is not mounted.
    pub fn of_current_thread(ns: Namespace) -> Result<NsFd> {
        let mut buf = [0; 64];
        let p = path::ns_path(&mut buf, Who::ThreadSelf, Some(ns))?;
        match sys::open_ns_file(p) {
            Ok(fd) => Ok(NsFd::new(fd, ns)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(missing_ns_file(ns, e)),
            Err(e) => Err(from_errno("open /proc/thread-self/ns/<name>", e)),
        }
    }

    /// The kind of namespace, as it was asked for (a `*ForChildren` kind stays one).
    pub fn namespace(&self) -> Namespace {
        self.kind
    }

    /// The namespace's inode number on nsfs: what `readlink /proc/<pid>/ns/<name>` shows in
    /// brackets (`net:[4026531840]`) and `stat` reports as `st_ino`. Two fds name the same
    /// namespace exactly when their inodes (and nsfs device) are equal; an inode number can be
    /// reused after the namespace is destroyed (see [`NsFd::unique_id`] for an id that is not).
    ///
    /// # Kernel support
    /// Any kernel (`fstat`).
    ///
    /// # Errors
    /// [`pidfd::Error::Os`] from `fstat`.
    pub fn id(&self) -> Result<u64> {
        sys::fstat_id(self.as_raw_fd()).map(|(_, ino)| ino).map_err(|e| Error::os("fstat", e))
    }

    /// Whether `other` names the same namespace (same nsfs device and inode).
    ///
    /// # Kernel support
    /// Any kernel (`fstat`).
    ///
    /// # Errors
    /// [`pidfd::Error::Os`] from `fstat`.
    pub fn is_same_namespace(&self, other: &NsFd) -> Result<bool> {
        let a = sys::fstat_id(self.as_raw_fd()).map_err(|e| Error::os("fstat", e))?;
        let b = sys::fstat_id(other.as_raw_fd()).map_err(|e| Error::os("fstat", e))?;
        Ok(a == b)
    }

    /// The namespace's 64-bit id, never reused while the system runs (unlike the inode of
    /// [`NsFd::id`]).
    ///
    /// # Kernel support
    /// `NS_GET_ID` (6.18) for every kind. Before that, mount namespaces only: `NS_GET_MNTNS_ID`
    /// (6.11; both of its ioctl numbers are tried). Otherwise [`pidfd::Error::Unsupported`]: the inode
    /// is not a substitute, since it can be reused.
    ///
    /// # Errors
    /// [`pidfd::Error::Unsupported`] naming [`pidfd::Feature::NsId`] (or
    /// [`pidfd::Feature::NsMountId`] for a mount namespace on a kernel without either).
    pub fn unique_id(&self) -> Result<u64> {
        let fd = self.as_raw_fd();
        let enotty = |e: &io::Error| e.raw_os_error() == Some(libc::ENOTTY);
        match sys::ns_ioctl_u64(fd, uapi::NS_GET_ID) {
            Ok(id) => return Ok(id),
            Err(e) if enotty(&e) => {}
            Err(e) => return Err(from_errno("ioctl(NS_GET_ID)", e)),
        }
        if self.kind != Namespace::Mount {
            return Err(Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsId }));
        }
        for cmd in [uapi::NS_GET_MNTNS_ID, uapi::NS_GET_MNTNS_ID_6_11] {
            match sys::ns_ioctl_u64(fd, cmd) {
                Ok(id) => return Ok(id),
                Err(e) if enotty(&e) => {}
                Err(e) => return Err(from_errno("ioctl(NS_GET_MNTNS_ID)", e)),
            }
        }
        Err(Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsMountId }))
    }

    /// Enters the namespace on the **calling thread** (`setns(fd, CLONE_NEW*)`).
    ///
    /// Most namespaces are per thread: the other threads of the process stay where they are.
    /// Kinds with rules of their own:
    /// - **Mount**: the thread first gets its own filesystem context (`unshare(CLONE_FS)`:
    ///   from then on its working directory, root and umask are its own), because the kernel
    ///   refuses to switch the root of a context shared with other threads. Entering moves
    ///   the thread's root and working directory to the namespace's root.
    /// - **User**: only a single-threaded process can enter, and not its current user
    ///   namespace again. Entering gives the thread full capabilities inside it.
    /// - **Time**: only a single-threaded process can enter.
    /// - **PID** (either kind): only the thread's future children are created in it, and the
    ///   namespace must be the thread's own or a descendant of it. Afterwards the thread
    ///   cannot create threads (the kernel refuses `CLONE_THREAD` while the children's PID
    ///   namespace differs), but can spawn processes.
    /// - **TimeForChildren**: like Time, the thread and its children join it.
    ///
    /// # Kernel support
    /// `setns` with an nsfd (3.0; 3.8 for mount, PID and user namespaces, 5.6 for time).
    ///
    /// # Errors
    /// [`pidfd::Error::PermissionDenied`] without `CAP_SYS_ADMIN` over the namespace (and, for mount,
    /// `CAP_SYS_CHROOT`); [`Error::MultiThreaded`] for a user or time namespace in a
    /// multi-threaded process; [`pidfd::Error::InvalidInput`] for the user namespace the thread is
    /// already in; [`pidfd::Error::Os`] (`EINVAL`) for a PID namespace that is not a descendant of the
    /// thread's.
    #[doc(alias = "setns")]
    pub fn enter(&self) -> Result<()> {
        if self.kind == Namespace::Mount {
            sys::unshare(libc::CLONE_FS).map_err(|e| Error::os("unshare(CLONE_FS)", e))?;
        }
        self.setns()
    }

    /// `setns` without the mount preparation (the caller did it).
    pub(crate) fn setns(&self) -> Result<()> {
        sys::setns(self.as_fd(), self.kind.clone_flag()).map_err(|e| enter_error(self.kind, Some(self), e))
    }

    /// The user namespace that owns this namespace (`NS_GET_USERNS`): the one whose
    /// capabilities govern it.
    ///
    /// # Kernel support
    /// `NS_GET_USERNS` (4.9); older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// [`pidfd::Error::PermissionDenied`] when the owner lies outside the caller's user namespace.
    pub fn owning_user_namespace(&self) -> Result<NsFd> {
        sys::ns_ioctl_fd(self.as_raw_fd(), uapi::NS_GET_USERNS)
            .map(|fd| NsFd::new(fd, Namespace::User))
            .map_err(|e| nsfs_error("ioctl(NS_GET_USERNS)", pidfd::Feature::NsHierarchy, e))
    }

    /// The parent of a PID or user namespace (`NS_GET_PARENT`).
    ///
    /// # Kernel support
    /// `NS_GET_PARENT` (4.9); older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// [`pidfd::Error::InvalidInput`] for other kinds (only PID and user namespaces are nested);
    /// [`pidfd::Error::PermissionDenied`] (`EPERM`) for the initial namespace, which has no parent, or
    /// when the parent lies outside the caller's namespace.
    pub fn parent(&self) -> Result<NsFd> {
        let kind = match self.kind {
            Namespace::Pid | Namespace::PidForChildren => Namespace::Pid,
            Namespace::User => Namespace::User,
            _ => return Err(Error::invalid("only PID and user namespaces have a parent")),
        };
        sys::ns_ioctl_fd(self.as_raw_fd(), uapi::NS_GET_PARENT)
            .map(|fd| NsFd::new(fd, kind))
            .map_err(|e| nsfs_error("ioctl(NS_GET_PARENT)", pidfd::Feature::NsHierarchy, e))
    }

    /// The namespace type as the kernel reports it (`NS_GET_NSTYPE`): one of the eight types,
    /// so [`Namespace::Pid`] for a [`Namespace::PidForChildren`] fd.
    ///
    /// # Kernel support
    /// `NS_GET_NSTYPE` (4.11); older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// [`pidfd::Error::Unsupported`]; [`pidfd::Error::Os`] (`EPROTO`) if the kernel names a type this crate
    /// does not know.
    pub fn namespace_type(&self) -> Result<Namespace> {
        nstype(self.as_fd())
    }

    /// The user id that created this user namespace (`NS_GET_OWNER_UID`), mapped into the
    /// caller's user namespace (the overflow uid, usually 65534, when it has no mapping there).
    ///
    /// # Kernel support
    /// `NS_GET_OWNER_UID` (4.11); older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// [`pidfd::Error::InvalidInput`] for a namespace that is not a user namespace.
    pub fn owner_uid(&self) -> Result<u32> {
        if self.kind != Namespace::User {
            return Err(Error::invalid("only a user namespace has an owner uid"));
        }
        sys::ns_ioctl_uid(self.as_raw_fd(), uapi::NS_GET_OWNER_UID)
            .map_err(|e| nsfs_error("ioctl(NS_GET_OWNER_UID)", pidfd::Feature::NsOwnerUid, e))
    }

    /// Translates `pid`, a thread id as seen **in this PID namespace**, into the calling
    /// thread's PID namespace (`NS_GET_PID_FROM_PIDNS`).
    ///
    /// # Kernel support
    /// 6.11; older kernels: [`pidfd::Error::Unsupported`] (there is no race-free fallback). Some
    /// kernels with the ioctls (seen on 6.16 to 6.19 before a fix) answer `ENOTTY`, as an
    /// older kernel would, when no task has the pid: after an `ENOTTY` a second translation,
    /// of the calling thread's own tid, tells the two apart, so such a kernel gives
    /// [`pidfd::Error::NoSuchProcess`] too.
    ///
    /// # Errors
    /// [`pidfd::Error::NoSuchProcess`] when no task has `pid` there or it is not visible to the caller;
    /// [`pidfd::Error::InvalidInput`] for `pid <= 0` or a namespace that is not a PID namespace.
    pub fn pid_from_namespace(&self, pid: i32) -> Result<i32> {
        self.translate(uapi::NS_GET_PID_FROM_PIDNS, pid)
    }

    /// Like [`NsFd::pid_from_namespace`], but returns the thread-group id (the process id) of
    /// the task, in the caller's PID namespace (`NS_GET_TGID_FROM_PIDNS`).
    ///
    /// # Kernel support
    /// As [`NsFd::pid_from_namespace`]: 6.11; older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// As [`NsFd::pid_from_namespace`].
    pub fn tgid_from_namespace(&self, pid: i32) -> Result<i32> {
        self.translate(uapi::NS_GET_TGID_FROM_PIDNS, pid)
    }

    /// Translates `pid`, a thread id in the calling thread's PID namespace, into this PID
    /// namespace (`NS_GET_PID_IN_PIDNS`).
    ///
    /// # Kernel support
    /// As [`NsFd::pid_from_namespace`]: 6.11; older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// [`pidfd::Error::NoSuchProcess`] when no task has `pid`, or it has no pid in this namespace
    /// (it lives outside it); [`pidfd::Error::InvalidInput`] as for [`NsFd::pid_from_namespace`].
    pub fn pid_in_namespace(&self, pid: i32) -> Result<i32> {
        self.translate(uapi::NS_GET_PID_IN_PIDNS, pid)
    }

    /// Like [`NsFd::pid_in_namespace`], but returns the thread-group id of the task in this
    /// namespace (`NS_GET_TGID_IN_PIDNS`).
    ///
    /// # Kernel support
    /// As [`NsFd::pid_from_namespace`]: 6.11; older kernels: [`pidfd::Error::Unsupported`].
    ///
    /// # Errors
    /// As [`NsFd::pid_in_namespace`].
    pub fn tgid_in_namespace(&self, pid: i32) -> Result<i32> {
        self.translate(uapi::NS_GET_TGID_IN_PIDNS, pid)
    }

    fn translate(&self, cmd: u32, pid: i32) -> Result<i32> {
        if !self.kind.is_pid() {
            return Err(Error::invalid("pid translation needs a PID namespace"));
        }
        if pid <= 0 {
            return Err(Error::invalid("pid must be positive"));
        }
        match sys::ns_ioctl_int(self.as_raw_fd(), cmd, pid as libc::c_ulong) {
            Ok(n) if n > 0 => Ok(n),
            // The kernel turns "no pid there" (0) into ESRCH itself; never a 0 as a pid.
            Ok(_) => Err(Error::Pidfd(pidfd::Error::NoSuchProcess { pid })),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::ESRCH) => Error::Pidfd(pidfd::Error::NoSuchProcess { pid }),
                // Some kernels with the ioctls (6.16 to 6.19 and 6.18.y before the fix, seen on
                // 6.16.12, 6.17.13, 6.18.15 and 6.19.14) answer `ENOTTY` when no task has the
                // pid: their `ns_ioctl` leaves the first `switch` with `break` on that path and
                // falls into the one for the extensible ioctls, whose default is `-ENOTTY`. The
                // feature's probe (a translation that cannot miss) tells the two apart.
                Some(libc::ENOTTY) => match pidfd::__private::require_feature(pidfd::Feature::NsPidTranslation) {
                    Ok(()) => Error::Pidfd(pidfd::Error::NoSuchProcess { pid }),
                    Err(e) => Error::Pidfd(e),
                },
                _ => from_errno("ioctl(NS_GET_*_PIDNS)", e),
            }),
        }
    }

    /// A second fd for the same namespace (`F_DUPFD_CLOEXEC`).
    ///
    /// # Kernel support
    /// Any kernel (`fcntl(F_DUPFD_CLOEXEC)`).
    ///
    /// # Errors
    /// [`pidfd::Error::Os`] when the fd table is full.
    pub fn try_clone(&self) -> Result<NsFd> {
        let fd = self.fd.try_clone().map_err(|e| Error::os("dup", e))?;
        Ok(NsFd::new(fd, self.kind))
    }
}

/// The `NS_GET_NSTYPE` answer for an nsfs fd.
fn nstype(fd: BorrowedFd<'_>) -> Result<Namespace> {
    let raw = sys::ns_ioctl_int(fd.as_raw_fd(), uapi::NS_GET_NSTYPE, 0)
        .map_err(|e| nsfs_error("ioctl(NS_GET_NSTYPE)", pidfd::Feature::NsType, e))?;
    Namespace::from_clone_flag(raw).ok_or(Error::os(
        "ioctl(NS_GET_NSTYPE) named an unknown namespace type",
        io::Error::from_raw_os_error(libc::EPROTO),
    ))
}

/// Maps an nsfs ioctl error: `ENOTTY` is a kernel without the ioctl.
fn nsfs_error(op: &'static str, feature: pidfd::Feature, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOTTY) => Error::Pidfd(pidfd::Error::Unsupported { feature }),
        _ => from_errno(op, e),
    }
}

/// A `/proc/.../ns/<name>` file that does not exist although the process does: the kernel has
/// no such namespaces, unless `/proc` itself lacks the `ns` directory (not mounted).
pub(crate) fn missing_ns_file(ns: Namespace, e: io::Error) -> Error {
    let mut buf = [0; 64];
    let Ok(dir) = path::ns_path(&mut buf, Who::ProcSelf, None) else { return Error::os("open /proc ns file", e) };
    match sys::stat_id(dir) {
        Ok(_) => Error::NamespaceDisabled { namespace: ns },
        Err(_) => Error::os("open /proc/.../ns/<name> (is /proc mounted?)", e),
    }
}

impl AsFd for NsFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NsFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for NsFd {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<NsFd> for OwnedFd {
    fn from(ns: NsFd) -> OwnedFd {
        ns.fd
    }
}

/// Checks that the fd is on nsfs (`NSFS_MAGIC`, 3.19) and asks its type (`NS_GET_NSTYPE`,
/// 4.11). A PID or time namespace becomes [`Namespace::Pid`] / [`Namespace::Time`] (the
/// kernel does not tell "for children" apart: it is the same kind of namespace). On failure
/// the fd is closed.
///
/// # Kernel support
/// nsfs (3.19) and `NS_GET_NSTYPE` (4.11); older kernels: [`pidfd::Error::Unsupported`].
///
/// # Errors
/// [`pidfd::Error::InvalidInput`] for an fd that is not a namespace fd; [`pidfd::Error::Unsupported`] before
/// 4.11.
impl TryFrom<OwnedFd> for NsFd {
    type Error = Error;

    fn try_from(fd: OwnedFd) -> Result<NsFd> {
        match sys::fstatfs_type(fd.as_raw_fd()) {
            Ok(t) if t == uapi::NSFS_MAGIC => {}
            Ok(_) => return Err(Error::invalid("not a namespace fd (not on nsfs)")),
            Err(e) => return Err(Error::os("fstatfs", e)),
        }
        let kind = nstype(fd.as_fd())?;
        Ok(NsFd::new(fd, kind))
    }
}

/// Whether `ns` is the calling thread's namespace of kind `kind` (same nsfs device and inode as
/// `/proc/thread-self/ns/<name>`); `None` when that cannot be told (no `/proc`).
pub(crate) fn same_as_current(ns: &NsFd, kind: Namespace) -> Option<bool> {
    let mut buf = [0; 64];
    let p = path::ns_path(&mut buf, Who::ThreadSelf, Some(kind)).ok()?;
    let current = sys::stat_id(p).ok()?;
    let target = sys::fstat_id(ns.as_raw_fd()).ok()?;
    Some(current == target)
}

/// The number of threads of the calling process, from `/proc/self/task`.
pub(crate) fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(Iterator::count)
}

/// Maps a `setns(nsfd)` error to the kernel rule behind it.
#[cold]
pub(crate) fn enter_error(kind: Namespace, fd: Option<&NsFd>, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EUSERS) if kind.is_time() => Error::MultiThreaded { namespace: Namespace::Time },
        Some(libc::EINVAL) if kind == Namespace::User => {
            if fd.and_then(|f| same_as_current(f, Namespace::User)) == Some(true) {
                Error::invalid(
                    "the calling thread is already in this user namespace (the kernel refuses to re-enter it)",
                )
            } else if thread_count().is_some_and(|n| n > 1) {
                Error::MultiThreaded { namespace: Namespace::User }
            } else {
                Error::os("setns(CLONE_NEWUSER) (the filesystem context is shared with another process?)", e)
            }
        }
        _ => from_errno("setns", e),
    }
}
