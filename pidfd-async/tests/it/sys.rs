//! The tests' unsafe calls: resource limits, per-thread CPU time, ptrace.
#![allow(unsafe_code)]

use std::io;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
#[allow(clippy::useless_conversion, reason = "rlim_t is u32 on 32-bit glibc targets, u64 elsewhere")]
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    u64::from(lim.rlim_cur)
}

/// `PTRACE_SEIZE` of `pid` (no stop, no options).
pub(crate) fn ptrace_seize(pid: i32) -> io::Result<()> {
    // SAFETY: PTRACE_SEIZE takes no pointers (addr and data 0).
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Waits (blocking) for the traced `pid` to exit, as its tracer; returns the wait status.
pub(crate) fn wait_traced(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is valid for the call to write.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r == pid {
            if libc::WIFSTOPPED(status) {
                // A signal-delivery or group stop: pass the signal on and keep waiting.
                let sig = libc::WSTOPSIG(status) as usize;
                // SAFETY: PTRACE_CONT takes no pointers; data is the signal number.
                unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0usize, sig) };
                continue;
            }
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether the calling process has no child at all, running or zombie:
/// `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)` answers `ECHILD`.
pub(crate) fn no_children() -> bool {
    // SAFETY: all-zero is a valid `siginfo_t`.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for the call to fill.
    let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

/// Blocks until `fd` polls readable (for a pidfd: the process exited), at most `timeout_ms`.
pub(crate) fn poll_readable(fd: std::os::fd::BorrowedFd<'_>, timeout_ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: `pfd` is one valid `pollfd` for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

/// `prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)`: lets any process of ours ptrace the caller
/// under Yama's `ptrace_scope = 1` (a no-op error without Yama).
pub(crate) fn allow_any_tracer() {
    // SAFETY: PR_SET_PTRACER takes no pointers.
    let _ = unsafe { libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, 0, 0, 0) };
}

/// A close-on-exec duplicate of `fd` at the lowest free number from `at` on
/// (`fcntl(F_DUPFD_CLOEXEC)`): with an `at` no other test uses, exactly `at`.
pub(crate) fn dup_at(fd: std::os::fd::BorrowedFd<'_>, at: i32) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: F_DUPFD_CLOEXEC takes an int; `fd` is open for the call.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, at) };
    assert!(r >= 0, "F_DUPFD_CLOEXEC: {}", io::Error::last_os_error());
    // SAFETY: `r` was just returned by the kernel and is owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(r) }
}
