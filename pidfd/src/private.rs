//! Helpers of this crate that its sibling crates (`pidfd-ns`, `pidfd-async`) call instead of
//! re-implementing them. Not part of the API: hidden, no semver guarantee, may change in any
//! release (the siblings depend on one exact version of this crate).

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

/// The epoll instance of this crate's background reaper, which `pidfd-async`'s pidfd hubs and
/// exit sets use too: one fd per item, edge-triggered for readability, keyed; `event_buffer`
/// gives the zeroed buffer its `wait` fills.
pub use crate::sys::{Epoll, Event as EpollEvent, event_buffer as epoll_event_buffer};

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

/// Spawns `cmd` as [`Command::spawn`](crate::Command::spawn) does (`output: false`) or as
/// [`Command::output`](crate::Command::output) does (`output: true`: the streams not set get
/// `/dev/null` as stdin and pipes as stdout and stderr, for this spawn only), with the typed
/// error: `pidfd-async`'s `Command` is this builder.
///
/// # Kernel support
/// As [`Command`](crate::Command).
///
/// # Errors
/// As [`Command::spawn`](crate::Command::spawn), before the conversion into `io::Error`.
pub fn spawn(cmd: &mut crate::Command, output: bool) -> crate::Result<crate::Child> {
    cmd.spawn_typed(output)
}

/// The nsfs ioctls `pidfd-ns` makes, as the probes of the `Ns*` features make them (one set of
/// wrappers; the seam names them `NsCall::NsfsIoctl`). EINTR is retried.
///
/// # Kernel support
/// As each command: `NS_GET_USERNS`/`NS_GET_PARENT` 4.9, `NS_GET_NSTYPE`/`NS_GET_OWNER_UID`
/// 4.11, the pid translations and `NS_GET_MNTNS_ID` 6.11, `NS_GET_ID` 6.18.
///
/// # Errors
/// The ioctl's OS error (`ENOTTY` from a kernel without the command).
pub fn ns_ioctl_fd(fd: std::os::fd::RawFd, cmd: u32) -> io::Result<std::os::fd::OwnedFd> {
    crate::sys::ns_ioctl_fd(fd, cmd)
}

/// As [`ns_ioctl_fd`], for a command with an integer argument and result.
///
/// # Kernel support
/// As [`ns_ioctl_fd`].
///
/// # Errors
/// As [`ns_ioctl_fd`].
pub fn ns_ioctl_int(fd: std::os::fd::RawFd, cmd: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    crate::sys::ns_ioctl_int(fd, cmd, arg)
}

/// As [`ns_ioctl_fd`], for `NS_GET_OWNER_UID`.
///
/// # Kernel support
/// As [`ns_ioctl_fd`].
///
/// # Errors
/// As [`ns_ioctl_fd`].
pub fn ns_ioctl_uid(fd: std::os::fd::RawFd, cmd: u32) -> io::Result<libc::uid_t> {
    crate::sys::ns_ioctl_uid(fd, cmd)
}

/// As [`ns_ioctl_fd`], for the commands that write a `__u64` (`NS_GET_ID`, `NS_GET_MNTNS_ID`).
///
/// # Kernel support
/// As [`ns_ioctl_fd`].
///
/// # Errors
/// As [`ns_ioctl_fd`].
pub fn ns_ioctl_u64(fd: std::os::fd::RawFd, cmd: u32) -> io::Result<u64> {
    crate::sys::ns_ioctl_u64(fd, cmd)
}

/// `Ok(())` if the running kernel has `feature`, else the error an operation needing it
/// reports (`Unsupported`, `Denied`, `Undetermined`), from the feature's cached probe.
///
/// # Kernel support
/// Any kernel: the probe.
///
/// # Errors
/// [`Error::Unsupported`], [`Error::Denied`] or [`Error::Undetermined`] naming `feature`.
pub fn require_feature(feature: crate::Feature) -> crate::Result<()> {
    feature.require()
}

/// Hands `fd` to the process's one background reaper (the thread `pidfd::Child`'s drop uses):
/// reaped now if it has exited, else when it exits; closed at once if it is not our child.
/// `pidfd-async` hands it the children that outlive their runtime.
pub fn reap_in_background(fd: crate::PidFd) {
    crate::reaper::adopt(fd);
}

/// How many times the background reaper thread has woken since the process started (one
/// `epoll_wait` return each), and how many times it asked again about an exit someone else was
/// collecting: the tests count them to show the thread sleeps through a readiness it cannot
/// reap, instead of judging by a duration (`__test-util` feature).
#[cfg(feature = "__test-util")]
pub fn reaper_rounds() -> (usize, usize) {
    crate::reaper::rounds()
}

/// The kernel matrix's feature contract for tests (`require`: skip saying why, or fail where
/// the matrix's row says the kernel has the feature): this crate's unit tests, `pidfd-ns`'s unit
/// tests and the workspace's `test-support` crate use it (`__test-util` feature).
#[cfg(any(test, feature = "__test-util"))]
#[path = "require.rs"]
pub mod require;
