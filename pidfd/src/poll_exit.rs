//! [`PidFd::poll_exit`]: the one non-blocking decision "exited, not yet, or being collected",
//! which every waiter built on readiness (the async crate's `wait`, its exit sets) asks after
//! each wake-up of the pidfd.

use std::os::fd::AsRawFd;
use std::process::ExitStatus;

use pidfd_sys as uapi;

use crate::error::{Error, Result};
use crate::parse::WaitEvent;
use crate::{Feature, PidFd, WaitOptions, sys};

/// What one non-blocking look at a process's exit found ([`PidFd::poll_exit`]).
///
/// # Kernel support
/// Any kernel (plain data); see [`PidFd::poll_exit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitPoll {
    /// The exit status: collected now (our child, reaped), remembered from an earlier wait, or
    /// kept by the kernel for a process its parent reaped (`PIDFD_INFO_EXIT`, 6.15).
    Exited(ExitStatus),
    /// Nothing to collect yet, and the pidfd is sure to wake (again) when there is: the process
    /// runs, a tracer holds its zombie (its release wakes the pidfd), or, for a process that is
    /// not our child, its parent has not reaped it yet (the reap wakes the pidfd: `POLLHUP`).
    /// Wait for the pidfd's next readiness.
    Running,
    /// Someone else is collecting the status right now: another caller of this `PidFd` holds its
    /// reaping lock over the exit, or another reaper (a `waitpid(-1)` loop) has taken the
    /// process and not yet released it. Before 6.9 such a reap wakes nobody: ask again soon
    /// without waiting for readiness (the answer then is `Exited`, or the error of a process
    /// reaped by someone else).
    Busy,
}

impl PidFd {
    /// One non-blocking look at the process's exit, the decision every readiness-driven wait
    /// needs after a wake-up of the pidfd: [`ExitPoll::Exited`] (the status, reaping our
    /// child), [`ExitPoll::Running`] (wait for the next readiness: it is sure to come), or
    /// [`ExitPoll::Busy`] (someone is collecting the status right now: ask again without
    /// waiting). A readiness that is not an exit (a tracer holding the zombie) is `Running`,
    /// never an error.
    ///
    /// Built on [`PidFd::try_wait`]; when that finds nothing, a `waitid(WNOWAIT)` peek tells
    /// "nothing to collect" from "an exit someone else is collecting", and, for a process
    /// whose parent is not us, whether its exit can give a status at all.
    ///
    /// # Kernel support
    /// `waitid(P_PIDFD)` (5.4); on 5.3 the pid-based fallback of [`PidFd::wait`]. For a process
    /// that is not our child, `PIDFD_INFO_EXIT` (6.15); before, its exit gives no status.
    ///
    /// # Errors
    /// As [`PidFd::try_wait`]; for a process that is not our child (or our child reaped by
    /// someone else) on a kernel without `PIDFD_INFO_EXIT`, [`Error::Unsupported`] (feature
    /// [`Feature::InfoExit`]) once it has exited, `Running` before: the answer comes at the
    /// exit, not while it runs.
    ///
    /// # Example
    /// ```
    /// use pidfd::ExitPoll;
    ///
    /// let mut child = pidfd::Command::new("cat").stdin(pidfd::Stdio::piped()).spawn()?;
    /// // Blocked reading its stdin: running, by construction.
    /// assert_eq!(child.pidfd().poll_exit()?, ExitPoll::Running);
    /// drop(child.stdin.take()); // end of file: `cat` exits
    /// child.pidfd().wait()?;
    /// assert!(matches!(child.pidfd().poll_exit()?, ExitPoll::Exited(s) if s.success()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_exit(&self) -> Result<ExitPoll> {
        if let Some(status) = self.remembered() {
            return Ok(ExitPoll::Exited(status));
        }
        let collected = {
            let Some(_guard) = self.lock_reaping(false) else { return Ok(ExitPoll::Busy) };
            self.wait_locked(WaitOptions::EXITED | WaitOptions::NOHANG, None, true)
        };
        match collected {
            Ok(Some(WaitEvent::Exited(status))) => return Ok(ExitPoll::Exited(status)),
            Ok(_) => {}
            Err(Error::NotChild) => return self.not_child_poll(),
            Err(e) => return Err(e),
        }
        // Nothing collected, and our lock is free again: a wake-up is sure to come, unless an
        // exit is being collected by someone else at this moment (whose reap, before 6.9, wakes
        // nobody). A peek that does not reap tells.
        let peek = if Feature::WaitidPidfd.is_supported() {
            sys::waitid(uapi::P_PIDFD, self.as_raw_fd(), libc::WEXITED | libc::WNOHANG | libc::WNOWAIT, None)
        } else {
            // 5.3: by pid. A recycled pid can only make us look once more: the next
            // `try_wait` re-checks through the pidfd.
            match self.pid() {
                Ok(pid) => sys::waitid(libc::P_PID, pid, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT, None),
                Err(Error::Exited) => Err(std::io::Error::from_raw_os_error(libc::ECHILD)),
                Err(_) => return Ok(ExitPoll::Running),
            }
        };
        match peek {
            // Reapable, yet `try_wait` did not reap it: a caller holding our lock is about to
            // (or a tracer let go just now).
            Ok(info) if info.pid != 0 => Ok(ExitPoll::Busy),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => match self.pid() {
                // Reaped: by the lock holder (about to remember the status) or by someone else
                // (`try_wait` says which once the lock is free).
                Err(Error::Exited) => Ok(ExitPoll::Busy),
                Ok(_) => match self.ppid() {
                    // Our child, taken by another reaper: the kernel marks it dead before it
                    // releases the pid, so the pid still reads. The same, one step earlier.
                    Ok(ppid) if ppid == sys::getpid() => Ok(ExitPoll::Busy),
                    Err(Error::Exited) => Ok(ExitPoll::Busy),
                    _ => self.not_child_poll(),
                },
                Err(_) => Ok(ExitPoll::Running),
            },
            // Running, or a zombie its tracer holds (its release wakes the pidfd). An error here
            // cannot tell more than "nothing collected" did.
            _ => Ok(ExitPoll::Running),
        }
    }

    /// A process that is not our child, with no status to collect yet: with `PIDFD_INFO_EXIT`
    /// its parent's reap will give one (and wake the pidfd); before 6.15 there is none to wait
    /// for, so the answer is `Unsupported`, but only once the process has exited.
    fn not_child_poll(&self) -> Result<ExitPoll> {
        if Feature::InfoExit.is_supported() {
            return Ok(ExitPoll::Running);
        }
        match sys::poll_readable(self.as_raw_fd(), 0) {
            Ok(false) => Ok(ExitPoll::Running),
            Ok(true) => Err(Error::Unsupported { feature: Feature::InfoExit }),
            Err(e) => Err(Error::os("poll", e)),
        }
    }
}
