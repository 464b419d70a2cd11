//! The crate's error type.

use std::io;

use crate::Namespace;

/// What went wrong: a namespace-specific failure, or an error of the core crate
/// ([`Error::Pidfd`], transparent: its message and source are the core error's).
///
/// The cases `pidfd` already names are [`pidfd::Error`]'s, wrapped in [`Error::Pidfd`]:
/// [`pidfd::Error::Exited`] (a zombie counts: the kernel detaches a process's namespaces when it
/// exits, before it is reaped), [`pidfd::Error::PermissionDenied`] (no `PTRACE_MODE_READ` access
/// to the process for its namespaces, no `CAP_SYS_ADMIN` over a namespace to enter it, a
/// namespace outside the caller's user or PID namespace; in the `/proc` fallback of
/// [`PidFdNsExt::namespace`](crate::PidFdNsExt::namespace) also a live process that a `/proc`
/// mounted with `hidepid=2` hides, with the `ENOENT` of the open as the source),
/// [`pidfd::Error::OtherPidNamespace`], [`pidfd::Error::NoSuchProcess`] (no process with that
/// pid in the PID namespace of a pid translation, or no pid in the other one),
/// [`pidfd::Error::InvalidInput`] and [`pidfd::Error::Os`], and a missing kernel feature as
/// [`pidfd::Error::Unsupported`]: the nsfs ioctls are `pidfd` features too
/// ([`pidfd::Feature::NsHierarchy`], [`NsType`](pidfd::Feature::NsType),
/// [`NsOwnerUid`](pidfd::Feature::NsOwnerUid), [`NsPidTranslation`](pidfd::Feature::NsPidTranslation),
/// [`NsMountId`](pidfd::Feature::NsMountId), [`NsId`](pidfd::Feature::NsId)), reported by
/// [`pidfd::features()`] with the others.
///
/// Converts into [`std::io::Error`]: variants that come from an OS error keep its
/// `raw_os_error()` ([`Error::raw_os_error`] tells which); [`Error::Pidfd`] converts as
/// [`pidfd::Error`] does, except that [`pidfd::Error::OtherPidNamespace`] keeps the `EREMOTE`
/// the namespace calls answer.
///
/// # Kernel support
/// Any kernel. Which variants a kernel can produce is listed under `# Errors` of each
/// operation; [`pidfd::Error::Unsupported`] names the missing feature and the kernel that
/// brings it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// An error of the `pidfd` crate: the process exited, a permission refusal, an invalid
    /// argument, any other OS error, a missing or refused pidfd feature.
    #[error(transparent)]
    Pidfd(#[from] pidfd::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `errno` behind this error, if it came from the kernel (or stands for one the kernel
    /// gives for it: `EOPNOTSUPP` for a disabled namespace type, `EREMOTE` for
    /// [`pidfd::Error::OtherPidNamespace`]; otherwise [`pidfd::Error::raw_os_error`]).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::NamespaceDisabled { .. } => Some(libc::EOPNOTSUPP),
            Error::MultiThreaded { namespace: Namespace::Time | Namespace::TimeForChildren } => Some(libc::EUSERS),
            Error::MultiThreaded { .. } => Some(libc::EINVAL),
            Error::Pidfd(pidfd::Error::OtherPidNamespace) => Some(libc::EREMOTE),
            Error::Pidfd(e) => e.raw_os_error(),
        }
    }

    /// [`pidfd::Error::Os`], wrapped.
    pub(crate) fn os(op: &'static str, source: io::Error) -> Error {
        Error::Pidfd(pidfd::Error::Os { op, source })
    }

    /// [`pidfd::Error::InvalidInput`], wrapped.
    pub(crate) fn invalid(what: &'static str) -> Error {
        Error::Pidfd(pidfd::Error::InvalidInput(what))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Pidfd(pidfd::Error::OtherPidNamespace) => io::Error::from_raw_os_error(libc::EREMOTE),
            Error::Pidfd(e) => e.into(),
            other => match other.raw_os_error() {
                Some(errno) => io::Error::from_raw_os_error(errno),
                None => io::Error::other(other),
            },
        }
    }
}

/// Classifies an `errno` met by an operation on a process or namespace, for the cases every
/// operation shares: `pidfd`'s classification ([`pidfd::__private::from_errno`]), wrapped.
pub(crate) fn from_errno(op: &'static str, e: io::Error) -> Error {
    Error::Pidfd(pidfd::__private::from_errno(op, e))
}
