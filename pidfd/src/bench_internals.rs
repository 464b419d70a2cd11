//! Internals for the bench (`--features bench-internals`): the fallback paths, callable on any
//! kernel. Not part of the API: no semver guarantee.

use std::io::Read;
use std::os::fd::AsRawFd;

use crate::{PidFd, Result, parse};

/// The `/proc/self/fdinfo/<fd>` fallback of [`PidFd::pid`], whatever the kernel has.
///
/// # Errors
/// As [`PidFd::pid`].
pub fn fdinfo_pid(fd: &PidFd) -> Result<i32> {
    fd.fdinfo_pid()
}

/// Prototype of a faster fdinfo fallback, for comparison only: the same path formatting and
/// parser as the library, but one `read` (the kernel produces the whole, ~100-byte fdinfo in
/// one go), so no second `read` to see EOF. `None` on any error.
pub fn fdinfo_pid_one_read(fd: &PidFd) -> Option<i32> {
    let mut path = [0u8; 64];
    let path = parse::path_with_number(&mut path, b"/proc/self/fdinfo/", fd.as_raw_fd().into(), b"");
    let path = std::ffi::CStr::from_bytes_with_nul(path).ok()?.to_str().ok()?;
    let mut buf = [0u8; 512];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    parse::fdinfo_pid(&buf[..n])
}
