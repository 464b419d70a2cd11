//! Waiting: `waitid(P_PIDFD)` with the exit status remembered, the stop/continue events,
//! resource usage, and the pid-based fallback for 5.3.

use std::os::fd::AsRawFd;
use std::process::ExitStatus;
use std::time::Duration;

use bitflags::bitflags;
use pidfd_sys as uapi;

use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::parse::{self, WaitEvent};
use crate::{Feature, OpenFlags, PidFd, sys};

bitflags! {
    /// Which state changes [`PidFd::wait_event`] reports (the `waitid` options).
    ///
    /// # Kernel support
    /// Any kernel (plain `waitid` flags); see [`PidFd::wait_event`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct WaitOptions: i32 {
        /// Termination (`WEXITED`).
        const EXITED = libc::WEXITED;
        /// Stop by a signal (`WSTOPPED`).
        const STOPPED = libc::WSTOPPED;
        /// Resumption by `SIGCONT` (`WCONTINUED`).
        const CONTINUED = libc::WCONTINUED;
        /// Return `None` instead of blocking (`WNOHANG`).
        const NOHANG = libc::WNOHANG;
        /// Leave the child waitable: report without reaping (`WNOWAIT`).
        const NOWAIT = libc::WNOWAIT;
    }
}

/// Resource usage of a reaped child and its waited-for descendants (`struct rusage`).
///
/// # Kernel support
/// Any kernel: returned by [`PidFd::wait_with_rusage`] (the raw `waitid` system call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// User CPU time.
    pub user_time: Duration,
    /// System CPU time.
    pub system_time: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// Page faults served without I/O.
    pub minor_faults: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches.
    pub involuntary_switches: u64,
}

impl ResourceUsage {
    fn from_raw(r: &sys::Rusage) -> ResourceUsage {
        let tv = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.clamp(0, 999_999) as u32) * 1000);
        let n = |v: libc::c_long| v.max(0) as u64;
        ResourceUsage {
            user_time: tv(r.ru_utime),
            system_time: tv(r.ru_stime),
            max_rss_kib: n(r.ru_maxrss),
            minor_faults: n(r.ru_minflt),
            major_faults: n(r.ru_majflt),
            voluntary_switches: n(r.ru_nvcsw),
            involuntary_switches: n(r.ru_nivcsw),
        }
    }
}

/// How long a blocking wait that met `ECHILD` on an exited process waits for whoever reaped
/// it to release it (milliseconds).
const RELEASE_WAIT: i32 = 200;

impl PidFd {
    /// Waits for the child to terminate and reaps it. The status is remembered: a second
    /// `wait` (or a `try_wait`) returns it again.
    ///
    /// Also works on a non-blocking pidfd (it polls), and a readiness that is not an exit
    /// (a tracer holding the zombie) is waited through, without spinning.
    ///
    /// # Kernel support
    /// `waitid(P_PIDFD)` (5.4). On 5.3: `waitid(P_PID)` on the pid read through the pidfd,
    /// first without reaping (`WNOWAIT`), then re-checked through the pidfd (same pid, not
    /// reaped) before reaping; a window remains only against another thread of this process
    /// that reaps by pid at the same moment (see SECURITY.md).
    ///
    /// # Errors
    /// [`Error::NotChild`] when the process is not the caller's child, unless someone else
    /// reaped it and the kernel has `PIDFD_INFO_EXIT` (6.15): then its status is returned;
    /// [`Error::NotPidfd`] for an fd the kernel does not take as a pidfd;
    /// [`Error::OtherPidNamespace`] (5.3 fallback) for a process outside the caller's
    /// namespace; [`Error::Os`] for another `waitid` or `poll` failure.
    ///
    /// # Example
    /// ```
    /// let (mut child, fd) = pidfd::spawn(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(fd.wait()?.code(), Some(3));
    /// assert_eq!(fd.wait()?.code(), Some(3));
    /// # drop(child.try_wait());
    /// # Ok::<(), pidfd::Error>(())
    /// ```
    #[doc(alias = "waitid")]
    pub fn wait(&self) -> Result<ExitStatus> {
        match self.wait_inner(WaitOptions::EXITED, None, true)? {
            Some(WaitEvent::Exited(status)) => Ok(status),
            // Only `EXITED` was asked for, and without NOHANG waitid reports something.
            _ => Err(Error::Os { op: "waitid", source: std::io::Error::from_raw_os_error(libc::EPROTO) }),
        }
    }

    /// The exit status if the child has terminated (reaping it), else `None`. Never blocks;
    /// `EAGAIN` from a non-blocking pidfd is "not yet".
    ///
    /// # Kernel support
    /// `waitid(P_PIDFD, WNOHANG)` (5.4); on 5.3 the pid-based fallback of [`PidFd::wait`].
    ///
    /// # Errors
    /// As [`PidFd::wait`].
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        match self.wait_inner(WaitOptions::EXITED | WaitOptions::NOHANG, None, true)? {
            Some(WaitEvent::Exited(status)) => Ok(Some(status)),
            _ => Ok(None),
        }
    }

    /// Waits and reaps like [`PidFd::wait`], and returns the child's resource usage too.
    ///
    /// # Kernel support
    /// As [`PidFd::wait`] (the raw `waitid` system call returns the usage).
    ///
    /// # Errors
    /// As [`PidFd::wait`], but [`Error::NotChild`] also when someone else reaped the child (the
    /// usage went with that reap); [`Error::Os`] (`ECHILD`) when an earlier wait of ours already
    /// collected the status.
    pub fn wait_with_rusage(&self) -> Result<(ExitStatus, ResourceUsage)> {
        if self.remembered().is_some() {
            return Err(Error::Os { op: "waitid", source: std::io::Error::from_raw_os_error(libc::ECHILD) });
        }
        let mut ru = sys::zeroed_rusage();
        match self.wait_inner(WaitOptions::EXITED, Some(&mut ru), false)? {
            Some(WaitEvent::Exited(status)) => Ok((status, ResourceUsage::from_raw(&ru))),
            _ => Err(Error::Os { op: "waitid", source: std::io::Error::from_raw_os_error(libc::EPROTO) }),
        }
    }

    /// Waits for the state changes in `options` (stop, continue, exit) and reports the first;
    /// `None` with [`WaitOptions::NOHANG`] when there is none yet. An exit reaped here is
    /// remembered like one from [`PidFd::wait`].
    ///
    /// A stop or continue wait without `NOHANG` on a non-blocking pidfd (which polls readable
    /// only at the exit) does not depend on the fd's `O_NONBLOCK`, which is shared with every
    /// duplicate and is left alone: it waits on a blocking reopen of the same process, or where
    /// that is unavailable polls `waitid(WNOHANG)` with a backoff of at most 10 ms.
    ///
    /// # Kernel support
    /// As [`PidFd::wait`]. The blocking reopen for stop/continue waits on a non-blocking pidfd
    /// needs pidfs file handles (6.14); before, the backoff (an event is seen at most 10 ms
    /// late).
    ///
    /// # Errors
    /// As [`PidFd::wait`]; [`Error::InvalidInput`] when `options` has none of EXITED, STOPPED,
    /// CONTINUED, or bits [`WaitOptions`] does not define (`from_bits_retain`: `waitid` would
    /// take `__WALL`, `__WCLONE`, `__WNOTHREAD` and change what it waits for).
    pub fn wait_event(&self, options: WaitOptions) -> Result<Option<WaitEvent>> {
        if !options.intersects(WaitOptions::EXITED | WaitOptions::STOPPED | WaitOptions::CONTINUED) {
            return Err(Error::InvalidInput("wait options need EXITED, STOPPED or CONTINUED"));
        }
        if !WaitOptions::all().contains(options) {
            return Err(Error::InvalidInput("WaitOptions with bits it does not define"));
        }
        self.wait_inner(options, None, true)
    }

    /// `exit_info`: on `ECHILD`, fall back to `PIDFD_INFO_EXIT` (not when the caller needs the
    /// resource usage, which only our own reap returns).
    fn wait_inner(
        &self,
        options: WaitOptions,
        rusage: Option<&mut sys::Rusage>,
        exit_info: bool,
    ) -> Result<Option<WaitEvent>> {
        let wants_exit = options.contains(WaitOptions::EXITED);
        if let Some(status) = self.remembered().filter(|_| wants_exit) {
            return Ok(Some(WaitEvent::Exited(status)));
        }
        // A blocking wait holds the lock, so a concurrent try_wait answers "not yet" rather than
        // racing the reap (and two blocking waits take turns; the second finds the status).
        let Some(_guard) = self.lock_reaping(!options.contains(WaitOptions::NOHANG)) else { return Ok(None) };
        self.wait_locked(options, rusage, exit_info)
    }

    /// This `PidFd`'s reaping lock: waiting for it (`block`), else `None` while another caller
    /// holds it. A poisoned lock is taken all the same (it guards no data).
    pub(crate) fn lock_reaping(&self, block: bool) -> Option<std::sync::MutexGuard<'_, ()>> {
        if block {
            return Some(self.reaping.lock().unwrap_or_else(|p| p.into_inner()));
        }
        match self.reaping.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::WouldBlock) => None,
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        }
    }

    /// [`PidFd::wait_inner`] once this `PidFd`'s reaping lock is held.
    pub(crate) fn wait_locked(
        &self,
        options: WaitOptions,
        rusage: Option<&mut sys::Rusage>,
        exit_info: bool,
    ) -> Result<Option<WaitEvent>> {
        let wants_exit = options.contains(WaitOptions::EXITED);
        let nohang = options.contains(WaitOptions::NOHANG);
        if let Some(status) = self.remembered().filter(|_| wants_exit) {
            return Ok(Some(WaitEvent::Exited(status)));
        }
        let result = if Feature::WaitidPidfd.is_supported() {
            self.waitid_pidfd(options, rusage)
        } else {
            self.waitid_by_pid(options, rusage)
        };
        match result {
            Ok(Some(WaitEvent::Exited(status))) if !options.contains(WaitOptions::NOWAIT) => {
                Ok(Some(WaitEvent::Exited(self.remember(status))))
            }
            Err(Error::NotChild) if exit_info => self.not_child(nohang),
            other => other,
        }
    }

    /// `ECHILD`: not our child, or our child reaped by someone else. With `PIDFD_INFO_EXIT`
    /// (6.15) the latter still has a status to report once the reaper has released the process.
    ///
    /// Never sleeps when `nohang`. A blocking wait on an exited process whose status is not
    /// there yet waits (at most [`RELEASE_WAIT`]) for the reap, which the pidfd reports as a
    /// hang-up (6.9): a reaper that took our child releases it at once, so that wait is short.
    fn not_child(&self, nohang: bool) -> Result<Option<WaitEvent>> {
        if let Some(status) = self.remembered() {
            return Ok(Some(WaitEvent::Exited(status)));
        }
        if Feature::InfoExit.is_supported() {
            if let Ok(Some(status)) = self.exit_status() {
                return Ok(Some(WaitEvent::Exited(status)));
            }
            // Readable: it has exited, but nobody has reaped it yet (or the reaper is between
            // taking it and releasing it, when the kernel records the exit information).
            let exited = sys::poll_readable(self.as_raw_fd(), 0).unwrap_or(false);
            if exited && !nohang && sys::poll_hangup(self.as_raw_fd(), RELEASE_WAIT).unwrap_or(false) {
                if let Ok(Some(status)) = self.exit_status() {
                    return Ok(Some(WaitEvent::Exited(status)));
                }
            }
        }
        Err(Error::NotChild)
    }

    fn waitid_pidfd(&self, options: WaitOptions, mut rusage: Option<&mut sys::Rusage>) -> Result<Option<WaitEvent>> {
        let mut backoff = Backoff::exit();
        let mut polled = false;
        loop {
            match sys::waitid(uapi::P_PIDFD, self.as_raw_fd(), options.bits(), rusage.as_deref_mut()) {
                Ok(info) if info.pid == 0 => {
                    if options.contains(WaitOptions::NOHANG) {
                        return Ok(None);
                    }
                    // A blocking waitid always reports something; be safe against a kernel
                    // that does not, without spinning.
                    backoff.sleep();
                }
                Ok(info) => return Ok(parse::wait_event(info.code, info.status)),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => {
                        if options.contains(WaitOptions::NOHANG) {
                            return Ok(None);
                        }
                        // A non-blocking pidfd becomes readable only at the exit: a stop or a
                        // continue would never wake a poll.
                        if options.intersects(WaitOptions::STOPPED | WaitOptions::CONTINUED) {
                            return self.wait_state_change_nonblocking(options, rusage);
                        }
                        // A non-blocking pidfd: wait for readiness. An EAGAIN after a readiness
                        // means it was not a reapable exit (a tracer holds the zombie), and the
                        // pidfd stays readable: back off instead of spinning. (Not judged by how
                        // fast poll returned: under load or emulation, a poll that returns at
                        // once can take longer than any threshold.)
                        if polled {
                            backoff.sleep();
                        }
                        sys::poll_readable(self.as_raw_fd(), -1).map_err(|e| Error::os("poll", e))?;
                        polled = true;
                    }
                    Some(libc::ECHILD) => return Err(Error::NotChild),
                    Some(libc::EBADF) => return Err(Error::NotPidfd),
                    _ => return Err(Error::os("waitid(P_PIDFD)", e)),
                },
            }
        }
    }

    /// A blocking stop/continue wait on a non-blocking pidfd, without touching the shared
    /// `O_NONBLOCK` (other handles of the open file description, an async reactor, rely on it).
    /// With pidfs file handles (6.14): reopen the same process as a new, blocking pidfd and
    /// wait there. Otherwise: `waitid` with `WNOHANG`, sleeping between attempts
    /// ([`Backoff::state_change`]), so the event is seen a little late and nothing spins.
    fn wait_state_change_nonblocking(
        &self,
        options: WaitOptions,
        mut rusage: Option<&mut sys::Rusage>,
    ) -> Result<Option<WaitEvent>> {
        if Feature::FileHandles.is_supported() {
            let flags = if self.is_thread()? { OpenFlags::THREAD } else { OpenFlags::empty() };
            if let Ok(blocking) = self.id().and_then(|id| PidFd::open_by_id(id, flags)) {
                if !blocking.is_nonblocking()? {
                    return blocking.waitid_pidfd(options, rusage);
                }
            }
        }
        let mut backoff = Backoff::state_change();
        loop {
            match sys::waitid(uapi::P_PIDFD, self.as_raw_fd(), options.bits() | libc::WNOHANG, rusage.as_deref_mut()) {
                Ok(info) if info.pid == 0 => backoff.sleep(),
                Ok(info) => return Ok(parse::wait_event(info.code, info.status)),
                Err(e) => {
                    return Err(match e.raw_os_error() {
                        Some(libc::ECHILD) => Error::NotChild,
                        Some(libc::EBADF) => Error::NotPidfd,
                        _ => Error::os("waitid(P_PIDFD, WNOHANG)", e),
                    });
                }
            }
        }
    }

    /// 5.3: no `P_PIDFD`. The pid read through the pidfd is ours as long as the process is not
    /// reaped. Wait without reaping (`WNOWAIT`), then re-check through the pidfd that it
    /// still names that pid *and* is not reaped (before 5.5 fdinfo keeps showing the pid of a
    /// reaped process, which may meanwhile name another child of ours), then collect the
    /// event with `WNOHANG`; if it is gone by then (a stop undone by a continue), start over.
    ///
    /// Residual window: another thread of this process that reaps our child by pid or with
    /// `waitpid(-1)` between the re-check and the collection, after which the kernel gives the
    /// pid to a new child of ours that has already changed state. Kernels with `waitid(P_PIDFD)`
    /// (5.4) have no such window.
    fn waitid_by_pid(&self, options: WaitOptions, mut rusage: Option<&mut sys::Rusage>) -> Result<Option<WaitEvent>> {
        let pid = match self.pid() {
            Ok(pid) => pid,
            Err(Error::Exited) => return Err(Error::NotChild),
            Err(e) => return Err(e),
        };
        loop {
            let peek = sys::waitid(libc::P_PID, pid, options.bits() | libc::WNOWAIT, None);
            let info = match peek {
                Ok(info) if info.pid == 0 => return Ok(None),
                Ok(info) => info,
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Err(Error::NotChild),
                Err(e) => return Err(Error::os("waitid(P_PID)", e)),
            };
            match self.pid() {
                Ok(now) if now == pid => {}
                _ => return Err(Error::NotChild),
            }
            match self.unreaped() {
                Ok(()) => {}
                Err(Error::Exited) => return Err(Error::NotChild),
                Err(e) => return Err(e),
            }
            if options.contains(WaitOptions::NOWAIT) {
                return Ok(parse::wait_event(info.code, info.status));
            }
            let done =
                sys::waitid(libc::P_PID, pid, options.bits() | libc::WNOHANG, rusage.as_deref_mut()).map_err(|e| {
                    match e.raw_os_error() {
                        Some(libc::ECHILD) => Error::NotChild,
                        _ => Error::os("waitid(P_PID)", e),
                    }
                })?;
            if done.pid != 0 {
                return Ok(parse::wait_event(done.code, done.status));
            }
            if options.contains(WaitOptions::NOHANG) {
                return Ok(None);
            }
        }
    }
}
