//! Internals for the bench (`--features __bench-internals`): the fallback paths, callable on any
//! kernel. Not part of the API: no semver guarantee.

use crate::{PidFd, Result};

/// The `/proc/self/fdinfo/<fd>` fallback of [`PidFd::pid`], whatever the kernel has.
///
/// # Errors
/// As [`PidFd::pid`].
///
/// # Kernel support
/// The `Pid:` line of `/proc/self/fdinfo/<fd>` (5.2), whatever the kernel has; needs `/proc`. For
/// the bench only.
pub fn fdinfo_pid(fd: &PidFd) -> Result<i32> {
    fd.fdinfo_pid()
}
