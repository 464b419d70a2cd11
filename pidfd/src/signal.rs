//! Sending signals through a pidfd: to the process, one thread, the thread group, or the whole
//! process group, optionally with an `rt_sigqueueinfo`-style payload.

use std::os::fd::AsRawFd;

use pidfd_sys as uapi;

use crate::error::{Error, Result, from_errno};
use crate::{Feature, PidFd, Support, sys};

/// Who receives a signal sent through a pidfd.
///
/// # Kernel support
/// `Default` needs `pidfd_send_signal` (5.1); the others `PIDFD_SIGNAL_*` (6.9), with
/// pid-based fallbacks before (see [`PidFd::send_signal_to`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalScope {
    /// What the pidfd names: the thread group for a process pidfd, the thread for a thread
    /// pidfd.
    Default,
    /// Only the thread the pidfd names (`PIDFD_SIGNAL_THREAD`); for a process pidfd, its
    /// thread-group leader.
    Thread,
    /// The whole thread group (`PIDFD_SIGNAL_THREAD_GROUP`), even through a thread pidfd.
    ThreadGroup,
    /// Every process of the process group the process leads (`PIDFD_SIGNAL_PROCESS_GROUP`):
    /// what a supervisor uses to stop a worker and everything it started.
    ProcessGroup,
}

/// The `si_value` of a queued signal: C's `union sigval`, whose member the receiver reads.
///
/// The two members overlap, so a value reads back correctly only through the member it was
/// stored as: an `Int` is stored as C stores `sival_int` (the union's first four bytes, the
/// rest zero), a `Ptr` as C stores `sival_ptr`. On little-endian targets a non-negative `Int`
/// also reads back through `sival_ptr`; on big-endian 64-bit targets it does not, as in C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigValue {
    /// `sival_int`.
    Int(i32),
    /// `sival_ptr`: an address-sized value (the receiver's address space, or just a number).
    Ptr(usize),
}

impl SigValue {
    /// The union's bytes as one pointer-sized word, in memory order.
    fn word(self) -> usize {
        match self {
            SigValue::Ptr(p) => p,
            SigValue::Int(v) => {
                let mut bytes = [0u8; std::mem::size_of::<usize>()];
                bytes[..4].copy_from_slice(&v.to_ne_bytes());
                usize::from_ne_bytes(bytes)
            }
        }
    }
}

/// A signal payload with `rt_sigqueueinfo(2)` semantics: the receiver sees `si_code`,
/// `si_pid`/`si_uid` of the sender and `si_value`.
///
/// # Kernel support
/// Sent with `pidfd_send_signal` (5.1); see [`PidFd::send_signal_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    code: i32,
    value: SigValue,
}

impl SigInfo {
    /// `SI_QUEUE` with `value` as `si_value` (what `sigqueue(3)` sends).
    ///
    /// Sending it: [`PidFd::send_signal_with`].
    pub fn queue(value: SigValue) -> SigInfo {
        SigInfo { code: libc::SI_QUEUE, value }
    }

    /// A custom negative `si_code` (the kernel reserves the non-negative codes, and
    /// `SI_TKILL`, for itself).
    ///
    /// # Kernel support
    /// None needed: the values are checked, nothing is called; sending it: `pidfd_send_signal`
    /// (5.1), see [`PidFd::send_signal_with`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for `code >= 0` or `code == SI_TKILL`.
    pub fn with_code(code: i32, value: SigValue) -> Result<SigInfo> {
        if code >= 0 || code == libc::SI_TKILL {
            return Err(Error::InvalidInput("si_code must be negative and not SI_TKILL"));
        }
        Ok(SigInfo { code, value })
    }
}

/// The highest valid signal number (`SIGRTMAX`).
fn max_signal() -> i32 {
    libc::SIGRTMAX()
}

#[inline]
fn check_signal(sig: i32) -> Result<()> {
    // 0 and the standard signals (1..=31) are valid everywhere: no call to find SIGRTMAX.
    if (0..32).contains(&sig) {
        return Ok(());
    }
    if sig < 0 || sig > max_signal() {
        return Err(Error::InvalidInput("signal number out of range"));
    }
    Ok(())
}

impl PidFd {
    /// Sends `sig` to the process (signal 0 checks that it is alive and signalable).
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1). Where a policy refuses that call (old container seccomp
    /// profiles: the [`Feature::PidfdSendSignal`] probe answers `Denied`) and the process is
    /// this process's own child, not yet reaped, the signal goes by `kill(pid)`: the pid names
    /// the child until its reap, which `waitid(P_PIDFD, WNOWAIT)` (5.4) confirms has not
    /// happened just before (a reap by another waiter between the two calls is a residual
    /// window, see SECURITY.md). Any other process, and a thread pidfd, get the refusal.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a signal outside `0..=SIGRTMAX`; [`Error::Exited`] once the
    /// process has exited (signalling a zombie succeeds, as `kill` does);
    /// [`Error::PermissionDenied`]; [`Error::OtherPidNamespace`] for a process outside the
    /// caller's PID namespace hierarchy.
    ///
    /// # Example
    /// ```
    /// let mut child = std::process::Command::new("sleep").arg("10").spawn()?;
    /// let fd = pidfd::PidFd::from_child(&child)?;
    /// fd.send_signal(libc::SIGTERM)?;
    /// assert_eq!(std::os::unix::process::ExitStatusExt::signal(&fd.wait()?), Some(libc::SIGTERM));
    /// # drop(child.try_wait());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "pidfd_send_signal")]
    #[inline]
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        // The direct path of `send(sig, Default, None)`: no payload, no scope flags.
        check_signal(sig)?;
        sys::pidfd_send_signal(self.as_raw_fd(), sig, None, 0).or_else(|e| self.send_refused(sig, e))
    }

    /// After `pidfd_send_signal` failed with `e`: `kill(pid)` for our own unreaped child when a
    /// policy refuses the call itself (see [`send_signal`](PidFd::send_signal)), else `e`.
    #[cold]
    fn send_refused(&self, sig: i32, e: std::io::Error) -> Result<()> {
        let refused_by_policy = matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
            && matches!(Feature::PidfdSendSignal.support(), Support::Denied { .. });
        if !refused_by_policy {
            return Err(signal_error(e));
        }
        // This `PidFd` collected the status: the process is gone, as the call would have said.
        if self.remembered().is_some() {
            return Err(Error::Exited);
        }
        // A thread pidfd names one thread, which `kill` would not.
        if self.is_thread().unwrap_or(true) || !Feature::WaitidPidfd.is_supported() {
            return Err(signal_error(e));
        }
        // The pid first, then the check: a process that `waitid` finds unreaped (our child, or
        // our tracee) was unreaped when its pid was read, and no other process can take that
        // pid before the reap. ECHILD: not ours, or reaped already; the refusal stands.
        let Ok(pid) = self.pid() else { return Err(signal_error(e)) };
        let options = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if sys::waitid(uapi::P_PIDFD, self.as_raw_fd(), options, None).is_err() {
            return Err(signal_error(e));
        }
        sys::kill(pid, sig).map_err(|e| from_errno("kill", e))
    }

    /// Sends `SIGKILL`.
    ///
    /// # Kernel support
    /// As [`PidFd::send_signal`], including its pid-based path for our own unreaped child.
    ///
    /// # Errors
    /// As [`PidFd::send_signal`].
    pub fn kill(&self) -> Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Sends `sig` to every process of the process group this process leads.
    ///
    /// # Kernel support
    /// `PIDFD_SIGNAL_PROCESS_GROUP` (6.9). Before: a liveness check through the pidfd, then
    /// `killpg(pid)`; the group could in theory disappear and its id be reused between the two
    /// calls (documented in SECURITY.md). The group of pid 1 has no such fallback (`kill(-1)`
    /// would signal every process): [`Error::Unsupported`] before 6.9.
    ///
    /// # Errors
    /// As [`PidFd::send_signal`]; [`Error::Exited`] also when no process group has this id (the
    /// process does not lead one; spawn it with `process_group(0)`); [`Error::Unsupported`]
    /// for pid 1 before 6.9.
    pub fn signal_process_group(&self, sig: i32) -> Result<()> {
        self.send(sig, SignalScope::ProcessGroup, None)
    }

    /// Sends `sig` to the chosen [`SignalScope`].
    ///
    /// # Kernel support
    /// `PIDFD_SIGNAL_*` (6.9). Before: `Default`/`ThreadGroup` go through the pidfd as usual;
    /// `Thread` uses `tgkill` and `ProcessGroup` `killpg`, each after a liveness check through
    /// the pidfd (a residual race remains; see SECURITY.md). `Default` is
    /// [`send_signal`](PidFd::send_signal), including its path for a refused call.
    ///
    /// # Errors
    /// As [`PidFd::send_signal`]; for `ProcessGroup` as [`PidFd::signal_process_group`].
    pub fn send_signal_to(&self, sig: i32, scope: SignalScope) -> Result<()> {
        self.send(sig, scope, None)
    }

    /// Sends `sig` with a payload, as `rt_sigqueueinfo(2)` / `rt_tgsigqueueinfo(2)` do.
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1) for `Default`; the other scopes need `PIDFD_SIGNAL_*` (6.9),
    /// else `Thread` uses `rt_tgsigqueueinfo` after a liveness check and `ProcessGroup`, which
    /// has no payload-carrying fallback, returns [`Error::Unsupported`].
    ///
    /// # Errors
    /// As [`PidFd::send_signal`]; [`Error::PermissionDenied`] when a non-negative code is sent to
    /// another process.
    pub fn send_signal_with(&self, sig: i32, scope: SignalScope, info: SigInfo) -> Result<()> {
        if sig == 0 {
            return Err(Error::InvalidInput("a payload needs a real signal, not 0"));
        }
        self.send(sig, scope, Some(info))
    }

    fn send(&self, sig: i32, scope: SignalScope, info: Option<SigInfo>) -> Result<()> {
        if info.is_none() && scope == SignalScope::Default {
            // The same call as `send_signal`, with its pid-based path for our own child.
            return self.send_signal(sig);
        }
        check_signal(sig)?;
        let raw = info.map(|i| sys::RtSigInfo::new(sig, i.code, i.value.word()));
        let flags = match scope {
            SignalScope::Default => 0,
            SignalScope::Thread => uapi::PIDFD_SIGNAL_THREAD,
            SignalScope::ThreadGroup => uapi::PIDFD_SIGNAL_THREAD_GROUP,
            SignalScope::ProcessGroup => uapi::PIDFD_SIGNAL_PROCESS_GROUP,
        };
        if flags != 0 && !Feature::SignalScope.is_supported() {
            return self.send_scoped_fallback(sig, scope, raw.as_ref());
        }
        sys::pidfd_send_signal(self.as_raw_fd(), sig, raw.as_ref(), flags).map_err(signal_error)
    }

    /// Before 6.9: a process pidfd's default scope is already the thread group; the thread and
    /// process-group scopes go through the pid after a liveness check.
    fn send_scoped_fallback(&self, sig: i32, scope: SignalScope, info: Option<&sys::RtSigInfo>) -> Result<()> {
        let alive = || sys::pidfd_send_signal(self.as_raw_fd(), 0, None, 0).map_err(signal_error);
        match scope {
            SignalScope::Default | SignalScope::ThreadGroup => {
                sys::pidfd_send_signal(self.as_raw_fd(), sig, info, 0).map_err(signal_error)
            }
            SignalScope::Thread => {
                let pid = self.pid()?;
                alive()?;
                match info {
                    Some(i) => sys::rt_tgsigqueueinfo(pid, pid, sig, i),
                    None => sys::tgkill(pid, pid, sig),
                }
                .map_err(signal_error)
            }
            SignalScope::ProcessGroup => {
                if info.is_some() {
                    return Err(Error::Unsupported { feature: Feature::SignalScope });
                }
                let pgid = process_group_target(self.pid()?)?;
                alive()?;
                sys::kill(-pgid, sig).map_err(signal_error)
            }
        }
    }
}

/// The process group `killpg` may target for the process `pid`: never 1 or less, since
/// `kill(-1)` signals every process the caller may signal and `kill(0)` the caller's own
/// group. The group of pid 1 can only be reached through `PIDFD_SIGNAL_PROCESS_GROUP` (6.9).
fn process_group_target(pid: i32) -> Result<i32> {
    if pid <= 1 {
        return Err(Error::Unsupported { feature: Feature::SignalScope });
    }
    Ok(pid)
}

#[cold]
fn signal_error(e: std::io::Error) -> Error {
    match e.raw_os_error() {
        // Arguments were checked: EINVAL is the kernel refusing a target outside the caller's
        // PID namespace hierarchy.
        Some(libc::EINVAL) => Error::OtherPidNamespace,
        Some(libc::EBADF) => Error::NotPidfd,
        Some(libc::ENOSYS) => Error::Unsupported { feature: Feature::PidfdSendSignal },
        _ => from_errno("pidfd_send_signal", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_range() {
        assert!(check_signal(0).is_ok());
        assert!(check_signal(libc::SIGRTMAX()).is_ok());
        assert!(matches!(check_signal(-1), Err(Error::InvalidInput(_))));
        assert!(matches!(check_signal(libc::SIGRTMAX() + 1), Err(Error::InvalidInput(_))));
        assert!(SigInfo::with_code(0, SigValue::Int(1)).is_err());
        assert!(SigInfo::with_code(libc::SI_TKILL, SigValue::Int(1)).is_err());
        assert!(SigInfo::with_code(-42, SigValue::Ptr(1)).is_ok());
    }

    #[test]
    fn process_group_one_is_never_a_kill_target() {
        for pid in [1, 0, -1, i32::MIN] {
            assert!(matches!(process_group_target(pid), Err(Error::Unsupported { feature: Feature::SignalScope })));
        }
        assert_eq!(process_group_target(2).unwrap(), 2);
    }

    /// `sival_int` lies in the union's first four bytes on every architecture, so an `Int` must
    /// be stored there (on big-endian 64-bit targets, the high half of the pointer-sized word).
    #[test]
    fn sigval_int_is_stored_where_c_reads_sival_int() {
        let w = SigValue::Int(-5).word();
        assert_eq!(w.to_ne_bytes()[..4], (-5i32).to_ne_bytes());
        assert!(w.to_ne_bytes()[4..].iter().all(|&b| b == 0));
        assert_eq!(SigValue::Ptr(0x1234).word(), 0x1234);
    }
}
