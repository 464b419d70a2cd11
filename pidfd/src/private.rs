//! Helpers of this crate that its sibling crates (`pidfd-ns`) call instead of re-implementing
//! them. Not part of the API: hidden, no semver guarantee, may change in any release.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::Error;

/// Classifies an `errno` met by an operation on a live process: `ESRCH` is
/// [`Error::Exited`], `EPERM`/`EACCES` [`Error::PermissionDenied`], `EREMOTE`
/// [`Error::OtherPidNamespace`]; anything else [`Error::Os`] with `op`.
pub fn from_errno(op: &'static str, e: io::Error) -> Error {
    crate::error::from_errno(op, e)
}

/// The `Pid:` line of a pidfd's fdinfo (5.2): the pid in the PID namespace of the procfs the
/// file was read through; `-1` once the process has been reaped, `0` when it has no pid in
/// that namespace. `None` when the line is missing or malformed.
pub fn fdinfo_pid(text: &[u8]) -> Option<i32> {
    crate::parse::fdinfo_pid(text)
}

/// `poll(fd, POLLIN, timeout_ms)`: whether `fd` is readable (on a pidfd: the process has
/// exited, a zombie included; before 5.3 a pidfd had no poll and always reads as readable).
/// `timeout_ms` -1 waits forever. EINTR is retried.
///
/// # Kernel support
/// Any kernel (`poll`); a pidfd answers it from 5.3.
///
/// # Errors
/// The OS error of `poll` (`ENOMEM`, say).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    crate::sys::poll_readable(fd.as_raw_fd(), timeout_ms)
}

/// `setns(fd, nstype)` on the calling thread: an nsfd with its type (or 0), or a pidfd with
/// `CLONE_NEW*` flags. EINTR is retried.
///
/// # Kernel support
/// `setns` with an nsfd: 3.0 (mount, PID, user namespaces 3.8); with a pidfd: 5.8.
///
/// # Errors
/// The OS error of `setns`, unclassified (the caller knows what it asked for).
pub fn setns(fd: BorrowedFd<'_>, nstype: i32) -> io::Result<()> {
    crate::sys::setns(fd.as_raw_fd(), nstype)
}

/// The fault-injection seam of this crate's system call wrappers (`__test-util` feature), for
/// `pidfd-ns`'s tests: one seam for the workspace. `pidfd-ns` names its own calls with
/// [`NsCall`](fault::NsCall).
#[cfg(feature = "__test-util")]
pub mod fault {
    pub use crate::sys::fault::*;
}

/// The kernel matrix's feature contract for tests (`require`: skip saying why, or fail where
/// the matrix's row says the kernel has the feature): this crate's unit tests, `pidfd-ns`'s unit
/// tests and the workspace's `test-support` crate use it (`__test-util` feature).
#[cfg(any(test, feature = "__test-util"))]
#[path = "require.rs"]
pub mod require;
