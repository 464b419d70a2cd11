//! The crate's error type.

use std::io;

use crate::Feature;

/// What went wrong, in the terms of what happened to the process.
///
/// Converts into [`std::io::Error`] (the methods that mirror std's return that): an errno
/// stays an OS error, anything more is kept inside; see the `From` impl below.
///
/// # Kernel support
/// Any kernel. Which variants an operation returns on which kernel is documented with the
/// operation; [`Error::Unsupported`] names the missing [`Feature`] and the kernel that brings it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The running kernel lacks a feature the operation needs, and there is no fallback.
    #[error("{feature} is not supported by the running kernel (it needs Linux {since} or newer)", since = feature.since())]
    Unsupported {
        /// The missing kernel capability.
        feature: Feature,
    },
    /// A security policy (seccomp, an LSM, a container profile) refused a system call the
    /// operation needs. The probe that met this refusal did not cache it: a later call tries again.
    #[error("{feature} is denied by a security policy (seccomp, LSM or container profile): {source}")]
    Denied {
        /// The capability that was refused.
        feature: Feature,
        /// The refusal (`EPERM` or `EACCES`, usually).
        #[source]
        source: io::Error,
    },
    /// The probe of a feature the operation needs could not decide whether the running kernel
    /// has it: it met an error that says nothing about the kernel (`EMFILE`, `ENOMEM`, a
    /// probe child that could not be created or was reaped by someone else, or, on Android,
    /// probing not yet allowed). Not cached: a later call probes again.
    #[error(
        "could not determine whether the running kernel has {feature}: its probe failed ({source}); a later call probes again"
    )]
    Undetermined {
        /// The capability whose probe failed.
        feature: Feature,
        /// What the probe met.
        #[source]
        source: io::Error,
    },
    /// The process has exited (it may still be a zombie for some operations, or already reaped).
    #[error("the process has exited")]
    Exited,
    /// No process has this PID (in the caller's PID namespace).
    #[error("no process with pid {pid}")]
    NoSuchProcess {
        /// The PID asked for.
        pid: i32,
    },
    /// The PID names a thread that is not a thread-group leader; open it with
    /// [`OpenFlags::THREAD`](crate::OpenFlags::THREAD) to get a thread pidfd.
    #[error("pid {pid} is a thread, not a thread-group leader (use OpenFlags::THREAD)")]
    NotThreadGroupLeader {
        /// The PID asked for.
        pid: i32,
    },
    /// The process lives in a PID namespace the caller cannot see into.
    #[error("the process is not visible in the caller's PID namespace")]
    OtherPidNamespace,
    /// The process is not a child of the caller, so it cannot be waited for.
    #[error("the process is not a child of the caller")]
    NotChild,
    /// The caller lacks the privilege (signal rules, ptrace access mode, capabilities).
    #[error("permission denied: {source}")]
    PermissionDenied {
        /// The OS error (`EPERM` or `EACCES`).
        #[source]
        source: io::Error,
    },
    /// The file descriptor is not a pidfd.
    #[error("the file descriptor is not a pidfd")]
    NotPidfd,
    /// An argument is out of range; nothing was sent to the kernel.
    #[error("invalid argument: {0}")]
    InvalidInput(&'static str),
    /// The child could not execute the program (missing, not executable, a bad interpreter,
    /// or a step before exec failed); the failed child has been reaped.
    #[error("cannot execute {program}: {source}")]
    Exec {
        /// The program as given.
        program: String,
        /// The errno the child met.
        #[source]
        source: io::Error,
    },
    /// Any other OS error, with the operation that met it.
    #[error("{op} failed: {source}")]
    Os {
        /// The system call or step that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `errno` behind this error, if it came from the kernel (`ESRCH` for
    /// [`Error::Exited`] and [`Error::NoSuchProcess`], `ECHILD` for [`Error::NotChild`]).
    ///
    /// `None` for the variants that carry no errno (such as [`Error::Unsupported`]).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Denied { source, .. }
            | Error::Undetermined { source, .. }
            | Error::PermissionDenied { source }
            | Error::Exec { source, .. }
            | Error::Os { source, .. } => source.raw_os_error(),
            Error::Exited => Some(libc::ESRCH),
            Error::NoSuchProcess { .. } => Some(libc::ESRCH),
            Error::NotChild => Some(libc::ECHILD),
            _ => None,
        }
    }

    pub(crate) fn os(op: &'static str, source: io::Error) -> Self {
        Error::Os { op, source }
    }
}

/// One rule: an error that is an errno and nothing more becomes that OS error, exactly as std
/// returns it (`raw_os_error()` and `kind()` as std's): [`Error::Os`], [`Error::Exec`] (std's
/// `spawn` reports a program that cannot run the same way), [`Error::PermissionDenied`],
/// `ESRCH` for [`Error::Exited`] and [`Error::NoSuchProcess`], `ECHILD` for
/// [`Error::NotChild`]. An error that says more than an errno can is a custom `io::Error`
/// with this `Error` inside (`get_ref()`, `into_inner()`, `downcast`): [`Error::Unsupported`]
/// ([`io::ErrorKind::Unsupported`]), [`Error::Denied`] and [`Error::Undetermined`] (the kind
/// of their errno; the [`Feature`] stays reachable), and the argument errors
/// ([`io::ErrorKind::InvalidInput`]).
///
/// ```
/// let e = pidfd::Command::new("/nonexistent").spawn().unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
/// assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
/// let e = pidfd::Command::new("a\0b").spawn().unwrap_err();
/// assert!(matches!(e.get_ref().and_then(|e| e.downcast_ref()), Some(pidfd::Error::InvalidInput(_))));
/// ```
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Unsupported { .. } => io::Error::new(io::ErrorKind::Unsupported, e),
            Error::Denied { ref source, .. } | Error::Undetermined { ref source, .. } => {
                io::Error::new(source.kind(), e)
            }
            Error::PermissionDenied { source } | Error::Exec { source, .. } | Error::Os { source, .. } => source,
            Error::Exited | Error::NoSuchProcess { .. } => io::Error::from_raw_os_error(libc::ESRCH),
            Error::NotChild => io::Error::from_raw_os_error(libc::ECHILD),
            Error::OtherPidNamespace
            | Error::NotThreadGroupLeader { .. }
            | Error::NotPidfd
            | Error::InvalidInput(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
        }
    }
}

/// The way back, for `?` on a std-mirroring method (`Command::spawn`, `Child::wait`, ...) in a
/// function returning this crate's [`Result`]: the `Error` inside a custom `io::Error` comes
/// out as it went in; any other `io::Error` becomes [`Error::Os`] (op `"I/O"`).
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            return Error::os("I/O", e);
        }
        match e.into_inner().map(|b| b.downcast::<Error>()) {
            Some(Ok(inner)) => *inner,
            // Not reached (checked above); kept whole rather than a panic.
            Some(Err(other)) => Error::os("I/O", io::Error::other(other)),
            None => Error::os("I/O", io::Error::other("an io::Error without its payload")),
        }
    }
}

/// Classifies an `errno` met by an operation on a live pidfd, for the cases every operation
/// shares: ESRCH is the process exiting, EPERM/EACCES a permission refusal, EREMOTE another PID
/// namespace. Anything else is kept as [`Error::Os`].
pub(crate) fn from_errno(op: &'static str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ESRCH) => Error::Exited,
        Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied { source: e },
        Some(libc::EREMOTE) => Error::OtherPidNamespace,
        _ => Error::os(op, e),
    }
}
