//! Internals for the bench (`--features bench-internals`): the fallback paths, callable on any
//! kernel. Not part of the API: no semver guarantee.

use crate::{PidFd, Result};

/// The `/proc/self/fdinfo/<fd>` fallback of [`PidFd::pid`], whatever the kernel has.
///
/// # Errors
/// As [`PidFd::pid`].
///
/// # Kernel support
/// Any kernel (the fallback path itself; for the bench only).
pub fn fdinfo_pid(fd: &PidFd) -> Result<i32> {
    fd.fdinfo_pid()
}
