//! The crate's error type, and the kernel capabilities its messages name.

use std::fmt;
use std::io;

use crate::Namespace;

/// A kernel capability an operation of this crate needs: a [`pidfd::Feature`] (probed and
/// cached by `pidfd`), or an nsfs ioctl (tried directly: an nsfs fd answers `ENOTTY` for an
/// ioctl its kernel does not know).
///
/// [`NsFeature::since`] is the first mainline kernel that has it, for messages only.
///
/// # Kernel support
/// Any kernel: a name, no system call. An operation whose feature the kernel lacks fails with
/// [`Error::Unsupported`] naming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NsFeature {
    /// A pidfd feature, such as [`pidfd::Feature::NamespaceIoctls`] or [`pidfd::Feature::SetnsPidfd`].
    Pidfd(pidfd::Feature),
    /// `NS_GET_USERNS` and `NS_GET_PARENT` (4.9).
    Hierarchy,
    /// `NS_GET_NSTYPE` (4.11).
    NamespaceType,
    /// `NS_GET_OWNER_UID` (4.11).
    OwnerUid,
    /// `NS_GET_{PID,TGID}_{FROM,IN}_PIDNS`: pid translation between PID namespaces (6.11).
    PidTranslation,
    /// `NS_GET_MNTNS_ID`: the 64-bit id of a mount namespace (6.11).
    MountNamespaceId,
    /// `NS_GET_ID`: the 64-bit id of any namespace (6.18).
    NamespaceId,
}

impl NsFeature {
    /// The first mainline Linux release that has it (distributions backport: never compare it
    /// with the running kernel's version).
    pub const fn since(self) -> &'static str {
        match self {
            NsFeature::Pidfd(f) => f.since(),
            NsFeature::Hierarchy => "4.9",
            NsFeature::NamespaceType | NsFeature::OwnerUid => "4.11",
            NsFeature::PidTranslation | NsFeature::MountNamespaceId => "6.11",
            NsFeature::NamespaceId => "6.18",
        }
    }
}

impl fmt::Display for NsFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsFeature::Pidfd(feature) => feature.fmt(f),
            NsFeature::Hierarchy => f.write_str("NS_GET_USERNS/NS_GET_PARENT"),
            NsFeature::NamespaceType => f.write_str("NS_GET_NSTYPE"),
            NsFeature::OwnerUid => f.write_str("NS_GET_OWNER_UID"),
            NsFeature::PidTranslation => f.write_str("NS_GET_{PID,TGID}_{FROM,IN}_PIDNS"),
            NsFeature::MountNamespaceId => f.write_str("NS_GET_MNTNS_ID"),
            NsFeature::NamespaceId => f.write_str("NS_GET_ID"),
        }
    }
}

impl From<pidfd::Feature> for NsFeature {
    fn from(f: pidfd::Feature) -> NsFeature {
        NsFeature::Pidfd(f)
    }
}

/// What went wrong, in the terms of what happened to the process or namespace.
///
/// Converts into [`std::io::Error`]: variants that come from an OS error keep its
/// `raw_os_error()` ([`Error::raw_os_error`] tells which); [`Error::Unsupported`] becomes
/// [`io::ErrorKind::Unsupported`], [`Error::InvalidInput`] [`io::ErrorKind::InvalidInput`].
///
/// # Kernel support
/// Any kernel. Which variants a kernel can produce is listed under `# Errors` of each
/// operation; [`Error::Unsupported`] names the missing feature and the kernel that brings it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The running kernel lacks a feature the operation needs, and there is no fallback.
    #[error("{feature} is not supported by the running kernel (it needs Linux {since} or newer)", since = feature.since())]
    Unsupported {
        /// The missing kernel capability.
        feature: NsFeature,
    },
    /// The process has exited. A zombie counts: the kernel detaches a process's namespaces
    /// when it exits, before it is reaped (`ESRCH`).
    #[error("the process has exited (its namespaces are gone)")]
    Exited,
    /// The kernel has no namespaces of this type: it was built without them (`EOPNOTSUPP`
    /// from the pidfs ioctl, or no `/proc/self/ns/<name>`), or it predates the type.
    #[error(
        "the kernel has no {namespace} namespaces (built without them, or older than Linux {since})",
        since = namespace.since()
    )]
    NamespaceDisabled {
        /// The namespace type asked for.
        namespace: Namespace,
    },
    /// The caller lacks the privilege: `PTRACE_MODE_READ` access to the process for its
    /// namespaces (`EACCES`), `CAP_SYS_ADMIN` over a namespace to enter it, or a namespace
    /// outside the caller's user or PID namespace (`EPERM`). In the `/proc` fallback of
    /// [`PidFdNsExt::namespace`](crate::PidFdNsExt::namespace), also a live process that a
    /// `/proc` mounted with `hidepid=2` hides from the caller (for the same lack of
    /// `PTRACE_MODE_READ` access): the source is then the `ENOENT` of the open.
    #[error("permission denied: {source}")]
    PermissionDenied {
        /// The OS error (`EPERM` or `EACCES`; `ENOENT` from a `/proc` that hides the process).
        #[source]
        source: io::Error,
    },
    /// The process is not visible in the caller's PID namespace (`EREMOTE` from newer kernels).
    #[error("the process is not visible in the caller's PID namespace")]
    OtherPidNamespace,
    /// The kernel lets only a single-threaded process enter this namespace: a user namespace
    /// (`EINVAL`: all threads of a process share one user namespace) or a time namespace
    /// (`EUSERS`: the vDSO clock offsets are per process).
    #[error(
        "a multi-threaded process cannot enter a {namespace} namespace; enter it from a single-threaded process \
         (before starting threads) or in a child process"
    )]
    MultiThreaded {
        /// [`Namespace::User`] or [`Namespace::Time`].
        namespace: Namespace,
    },
    /// No process has this pid in the PID namespace it was looked up in, or it has no pid in
    /// the other one (`ESRCH` from a pid translation).
    #[error("no process with pid {pid} in that PID namespace, or it has no pid in the other one")]
    NoSuchProcess {
        /// The pid asked for.
        pid: i32,
    },
    /// An argument is out of range or does not fit the namespace type; nothing was sent to the
    /// kernel.
    #[error("invalid argument: {0}")]
    InvalidInput(&'static str),
    /// Any other OS error, with the operation that met it.
    #[error("{op} failed: {source}")]
    Os {
        /// The system call or step that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other error of the `pidfd` crate (for example a seccomp refusal of a pidfd call).
    #[error(transparent)]
    Pidfd(pidfd::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `errno` behind this error, if it came from the kernel (or stands for one the kernel
    /// gives for it: `ESRCH` for [`Error::Exited`], `EOPNOTSUPP` for a disabled namespace type).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::PermissionDenied { source } | Error::Os { source, .. } => source.raw_os_error(),
            Error::Exited | Error::NoSuchProcess { .. } => Some(libc::ESRCH),
            Error::NamespaceDisabled { .. } => Some(libc::EOPNOTSUPP),
            Error::OtherPidNamespace => Some(libc::EREMOTE),
            Error::MultiThreaded { namespace: Namespace::Time | Namespace::TimeForChildren } => Some(libc::EUSERS),
            Error::MultiThreaded { .. } => Some(libc::EINVAL),
            Error::Pidfd(e) => e.raw_os_error(),
            Error::Unsupported { .. } | Error::InvalidInput(_) => None,
        }
    }

    pub(crate) fn os(op: &'static str, source: io::Error) -> Error {
        Error::Os { op, source }
    }
}

impl From<pidfd::Error> for Error {
    fn from(e: pidfd::Error) -> Error {
        match e {
            pidfd::Error::Unsupported { feature } => Error::Unsupported { feature: NsFeature::Pidfd(feature) },
            pidfd::Error::Exited => Error::Exited,
            pidfd::Error::OtherPidNamespace => Error::OtherPidNamespace,
            pidfd::Error::PermissionDenied { source } => Error::PermissionDenied { source },
            pidfd::Error::InvalidInput(what) => Error::InvalidInput(what),
            pidfd::Error::Os { op, source } => Error::Os { op, source },
            other => Error::Pidfd(other),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Unsupported { .. } => io::Error::new(io::ErrorKind::Unsupported, e),
            Error::InvalidInput(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            Error::PermissionDenied { source } | Error::Os { source, .. } => source,
            Error::Pidfd(e) => e.into(),
            other => match other.raw_os_error() {
                Some(errno) => io::Error::from_raw_os_error(errno),
                None => io::Error::other(other),
            },
        }
    }
}

/// Classifies an `errno` met by an operation on a process or namespace, for the cases every
/// operation shares. Anything else is kept as [`Error::Os`].
pub(crate) fn from_errno(op: &'static str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ESRCH) => Error::Exited,
        Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied { source: e },
        Some(libc::EREMOTE) => Error::OtherPidNamespace,
        _ => Error::os(op, e),
    }
}
