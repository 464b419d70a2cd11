//! The tests' unsafe calls: resource limits, per-thread CPU time, ptrace.
#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur
}

/// CPU time (user + system) used so far by the calling thread.
pub(crate) fn thread_cpu() -> Duration {
    // SAFETY: all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for the call to fill.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
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
