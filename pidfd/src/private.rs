//! Helpers of this crate that its sibling crates (`pidfd-ns`) call instead of re-implementing
//! them. Not part of the API: hidden, no semver guarantee, may change in any release.

use std::io;

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

/// The fault-injection seam of this crate's system call wrappers (`test-util` feature), for
/// `pidfd-ns`'s tests: one seam for the workspace. `pidfd-ns` names its own calls with
/// [`NsCall`](fault::NsCall).
#[cfg(feature = "test-util")]
pub mod fault {
    pub use crate::sys::fault::*;
}
