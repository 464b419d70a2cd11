//! Per-thread fault injection: `inject(Call::GetInfo, ENOTTY)` makes every `GetInfo` call of
//! the current thread fail with `ENOTTY` until the guard drops; `inject_on_fd` limits the fault
//! to calls on one fd (so a probe on its own pidfd is not hit); `fake_file` makes `read_file`
//! of one path return given bytes (what an older kernel would have written there). Compiled
//! in test builds, and with the `__test-util` feature, which exposes it as
//! `pidfd::__private::fault` for `pidfd-ns`'s tests (the one seam of the workspace: `pidfd-ns`'s
//! calls are named by [`NsCall`], and `inject_times`, `pretend`, `before`, `redirect` and the
//! `setns` journal serve them). Elsewhere every check is an inlined `Ok(())`.

#[cfg(not(any(test, feature = "__test-util")))]
pub(crate) use off::*;
#[cfg(any(test, feature = "__test-util"))]
#[cfg_attr(not(feature = "__test-util"), allow(unreachable_pub))]
pub use seam::*;

/// The seam. Its items are `pub` for `pidfd::__private::fault` (`__test-util`); in a plain test
/// build some of them serve only `pidfd-ns`.
#[cfg(any(test, feature = "__test-util"))]
#[cfg_attr(not(feature = "__test-util"), allow(dead_code, unreachable_pub))]
mod seam {
    pub use super::super::Call;
    use std::cell::{Cell, RefCell};
    use std::ffi::{CStr, CString};
    use std::os::fd::RawFd;

    /// A call of `pidfd-ns`, as its tests name it: wrapped in [`Call::Ns`] by the seam's
    /// functions. Only `NsfsIoctl` reaches a probe of this crate (the `Ns*` features' probes
    /// make nsfs ioctls, through the same wrappers `pidfd-ns` calls).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum NsCall {
        /// `PIDFD_GET_*_NAMESPACE`.
        PidfdNsIoctl,
        /// The nsfs `NS_GET_*` ioctls.
        NsfsIoctl,
        /// Every `setns`.
        Setns,
        /// `setns` with this `nstype` argument (0 or one `CLONE_NEW*` flag for an nsfd, the set
        /// of flags for a pidfd).
        SetnsType(libc::c_int),
        /// `unshare`.
        Unshare,
        /// `open` of a `/proc/<pid>/ns/<name>` path (absolute, or relative to an open `/proc`).
        Open,
        /// `stat` of a path (absolute, or relative to an open `/proc`).
        Stat,
        /// Any call that takes this path (exactly as passed: absolute, or relative to an open
        /// `/proc`), e.g. to make one `/proc` file look missing.
        Path(&'static str),
        /// Reading `/proc/self/fdinfo/<fd>`.
        Fdinfo,
        /// `fstatfs`.
        Fstatfs,
        /// `poll`.
        Poll,
    }

    impl From<NsCall> for Call {
        fn from(c: NsCall) -> Call {
            Call::Ns(c)
        }
    }

    type Hook = Box<dyn FnMut()>;

    /// `errno` 0 is "pretend the call succeeded" (for `outcome`); `left` counts the calls still
    /// to fail (`None`: all of them).
    enum Fault {
        Call {
            call: Call,
            errno: i32,
            fd: Option<RawFd>,
            left: Option<u32>,
        },
        File {
            path: CString,
            content: Vec<u8>,
        },
        /// Taken out (`None`) while it runs: the hook may call into the seam itself.
        Hook {
            call: Call,
            f: Option<Hook>,
        },
        Redirect {
            from: &'static str,
            to: &'static str,
        },
    }

    thread_local! {
        static FAULTS: RefCell<Vec<(u64, Fault)>> = const { RefCell::new(Vec::new()) };
        static NEXT: Cell<u64> = const { Cell::new(0) };
        static SPAWNED: Cell<Option<super::super::Method>> = const { Cell::new(None) };
        static STACKS_MAPPED: Cell<u64> = const { Cell::new(0) };
        /// Every call made, for `calls` (this crate's tests only: a `__test-util` build of
        /// another crate's tests would grow it without bound).
        #[cfg(test)]
        static CALLS: RefCell<Vec<(Call, Option<RawFd>)>> = const { RefCell::new(Vec::new()) };
        static SETNS_JOURNAL: RefCell<Vec<libc::c_int>> = const { RefCell::new(Vec::new()) };
        static REDIRECTED: Cell<usize> = const { Cell::new(0) };
    }

    /// Records the method that created this thread's last `pidfd::Command` child.
    pub(crate) fn note_spawned(method: super::super::Method) {
        SPAWNED.with(|m| m.set(Some(method)));
    }

    #[cfg(test)]
    /// The method that created this thread's last `pidfd::Command` child (which path a test
    /// really took).
    pub(crate) fn last_spawned() -> Option<super::super::Method> {
        SPAWNED.with(Cell::get)
    }

    /// Counts the child stacks this thread mapped (rather than took from the slot).
    pub(crate) fn note_stack_mapped() {
        STACKS_MAPPED.with(|n| n.set(n.get() + 1));
    }

    #[cfg(test)]
    /// How many child stacks this thread has mapped.
    pub(crate) fn stacks_mapped() -> u64 {
        STACKS_MAPPED.with(Cell::get)
    }

    /// Removes the injected fault (or hook, or redirection) when dropped.
    #[must_use]
    pub struct Guard(u64);

    impl Drop for Guard {
        fn drop(&mut self) {
            FAULTS.with(|f| f.borrow_mut().retain(|(id, _)| *id != self.0));
        }
    }

    fn add(fault: Fault) -> Guard {
        let id = NEXT.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        FAULTS.with(|f| f.borrow_mut().push((id, fault)));
        Guard(id)
    }

    /// Makes `call` fail with `errno` on this thread.
    pub fn inject(call: impl Into<Call>, errno: i32) -> Guard {
        add(Fault::Call { call: call.into(), errno, fd: None, left: None })
    }

    /// Makes `call` fail with `errno` on this thread, only when it is made on `fd`.
    pub fn inject_on_fd(call: impl Into<Call>, fd: RawFd, errno: i32) -> Guard {
        add(Fault::Call { call: call.into(), errno, fd: Some(fd), left: None })
    }

    /// Makes the next `n` calls of `call` on this thread fail with `errno`; later ones run.
    pub fn inject_times(call: impl Into<Call>, errno: i32, n: u32) -> Guard {
        add(Fault::Call { call: call.into(), errno, fd: None, left: Some(n) })
    }

    /// Makes `call` (a `pidfd-ns` `setns`) report success without making the system call.
    pub fn pretend(call: impl Into<Call>) -> Guard {
        inject(call, 0)
    }

    /// Runs `f` on this thread just before each `call` (before its fault, if any).
    pub fn before(call: impl Into<Call>, f: impl FnMut() + 'static) -> Guard {
        add(Fault::Hook { call: call.into(), f: Some(Box::new(f)) })
    }

    /// Makes `read_file(path)` on this thread return `content`.
    pub fn fake_file(path: &str, content: impl Into<Vec<u8>>) -> Guard {
        add(Fault::File { path: CString::new(path).unwrap(), content: content.into() })
    }

    /// Makes an `open` of the `/proc` path `from` (by `pidfd-ns`) open the path `to` instead,
    /// as if `from` had come to name what `to` names.
    pub fn redirect(from: &'static str, to: &'static str) -> Guard {
        add(Fault::Redirect { from, to })
    }

    /// Where a redirected `open` of `path` goes (counted for [`redirected`]).
    pub fn redirection(path: &CStr) -> Option<CString> {
        let p = path.to_str().ok()?;
        let to = FAULTS.with(|f| {
            f.borrow().iter().find_map(|(_, fault)| match fault {
                Fault::Redirect { from, to } if *from == p => Some(*to),
                _ => None,
            })
        })?;
        REDIRECTED.with(|n| n.set(n.get() + 1));
        CString::new(to).ok()
    }

    /// How many opens were redirected on this thread since the last call.
    pub fn redirected() -> usize {
        REDIRECTED.with(|n| n.replace(0))
    }

    /// The `nstype` arguments of the `setns` calls of `pidfd-ns` this thread made (or had
    /// refused or pretended) since the last call of this function.
    pub fn setns_journal() -> Vec<libc::c_int> {
        SETNS_JOURNAL.with(|j| std::mem::take(&mut *j.borrow_mut()))
    }

    /// Journals a `setns` of `pidfd-ns` (see [`setns_journal`]).
    pub fn record_setns(nstype: libc::c_int) {
        SETNS_JOURNAL.with(|j| j.borrow_mut().push(nstype));
    }

    /// Whether a fault that a probe could meet is active on this thread (probe results must
    /// then not be cached, nor cached ones used). The faults of `pidfd::Command`'s creation paths
    /// never reach a probe (the probes make their own calls, unseen by the seam), nor do those
    /// of `pidfd-ns`'s calls ([`NsCall`], hooks, redirections) but the nsfs ioctls, which the
    /// `Ns*` features' probes make through the same wrappers.
    pub(crate) fn active() -> bool {
        let never_probed = |c: &Call| {
            matches!(c, Call::Clone3 | Call::Clone | Call::Vfork | Call::IgnorePidfdFlag | Call::CloseRange)
                || matches!(c, Call::Ns(ns) if *ns != NsCall::NsfsIoctl)
        };
        FAULTS.with(|f| {
            f.borrow().iter().any(|(_, fault)| match fault {
                Fault::Call { call, .. } => !never_probed(call),
                Fault::File { .. } => true,
                Fault::Hook { .. } | Fault::Redirect { .. } => false,
            })
        })
    }

    /// Whether a fault for `call` is active on this thread (its errors are the seam's, not the
    /// kernel's).
    pub(crate) fn injected(call: Call) -> bool {
        FAULTS.with(|f| f.borrow().iter().any(|(_, fault)| matches!(fault, Fault::Call { call: c, .. } if *c == call)))
    }

    #[cfg(test)]
    /// How many times this thread made `call` (counted at the seam, whether or not a fault hit),
    /// on fd `on` for the calls the seam sees with their fd.
    pub(crate) fn calls(call: Call, on: Option<RawFd>) -> u64 {
        CALLS.with(|c| c.borrow().iter().filter(|&&(c, fd)| c == call && (on.is_none() || fd == on)).count() as u64)
    }

    /// Runs the first hook whose call matches.
    fn run_hooks(matches: impl Fn(&Call) -> bool) {
        let taken = FAULTS.with(|f| {
            f.borrow_mut().iter_mut().find_map(|(id, fault)| match fault {
                Fault::Hook { call, f } if matches(call) && f.is_some() => f.take().map(|f| (*id, f)),
                _ => None,
            })
        });
        if let Some((id, mut hook)) = taken {
            hook();
            FAULTS.with(|f| {
                if let Some((_, Fault::Hook { f, .. })) = f.borrow_mut().iter_mut().find(|(i, _)| *i == id) {
                    *f = Some(hook);
                }
            });
        }
    }

    /// The first live fault of a call that `matches` (on fd `on`), counted down: `Some(errno)`.
    fn take(matches: impl Fn(&Call) -> bool, on: Option<RawFd>) -> Option<i32> {
        FAULTS.with(|f| {
            f.borrow_mut().iter_mut().find_map(|(_, fault)| match fault {
                Fault::Call { call, errno, fd, left }
                    if matches(call) && (fd.is_none() || *fd == on) && *left != Some(0) =>
                {
                    if let Some(n) = left {
                        *n -= 1;
                    }
                    Some(*errno)
                }
                _ => None,
            })
        })
    }

    fn find(call: Call, on: Option<RawFd>) -> std::io::Result<()> {
        run_hooks(|c| *c == call);
        #[cfg(test)]
        CALLS.with(|c| c.borrow_mut().push((call, on)));
        match take(|c| *c == call, on) {
            Some(errno) if errno != 0 => Err(std::io::Error::from_raw_os_error(errno)),
            _ => Ok(()),
        }
    }

    /// `None`: no fault, make the call. `Some(Ok)`: pretend it succeeded. `Some(Err)`: fail.
    /// Runs the call's hooks first.
    ///
    /// # Kernel support
    /// No system call: the seam's per-thread table only.
    ///
    /// # Errors
    /// `Some(Err)`: the error injected for `call` on this thread.
    pub fn outcome(call: impl Into<Call>) -> Option<std::io::Result<()>> {
        let call = call.into();
        run_hooks(|c| *c == call);
        #[cfg(test)]
        CALLS.with(|c| c.borrow_mut().push((call, None)));
        take(|c| *c == call, None)
            .map(|errno| if errno == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(errno)) })
    }

    /// The fault of `call`, if any (`Ok(())`: make the call).
    ///
    /// # Kernel support
    /// No system call: the seam's per-thread table only.
    ///
    /// # Errors
    /// The error injected for `call` on this thread.
    pub fn check(call: impl Into<Call>) -> std::io::Result<()> {
        let call = call.into();
        if matches!(call, Call::Ns(_)) {
            return outcome(call).unwrap_or(Ok(()));
        }
        find(call, None)
    }

    pub(crate) fn check_fd(call: Call, fd: RawFd) -> std::io::Result<()> {
        find(call, Some(fd))
    }

    /// The faults of a call on a path: the call's own, then the path's (hooks on the path
    /// run first).
    ///
    /// # Kernel support
    /// No system call: the seam's per-thread table only.
    ///
    /// # Errors
    /// The error injected for `call`, or for `path`, on this thread.
    pub fn check_path(call: impl Into<Call>, path: &CStr) -> std::io::Result<()> {
        check(call)?;
        let Ok(p) = path.to_str() else { return Ok(()) };
        let on_path = |c: &Call| matches!(c, Call::Ns(NsCall::Path(q)) if *q == p);
        run_hooks(on_path);
        match take(on_path, None) {
            Some(errno) => Err(std::io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }

    /// The fake content of `path`, copied into `buf`, if a test set one.
    pub(crate) fn file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
        FAULTS.with(|f| {
            f.borrow().iter().find_map(|(_, fault)| match fault {
                Fault::File { path: p, content } if p.as_c_str() == path => {
                    let n = content.len().min(buf.len());
                    buf[..n].copy_from_slice(&content[..n]);
                    Some(n)
                }
                _ => None,
            })
        })
    }
}

#[cfg(not(any(test, feature = "__test-util")))]
mod off {
    use super::super::Call;

    #[inline(always)]
    pub(crate) fn note_spawned(_method: super::super::Method) {}

    #[inline(always)]
    pub(crate) fn note_stack_mapped() {}

    #[inline(always)]
    pub(crate) fn active() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn injected(_call: Call) -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn check(_call: Call) -> std::io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn check_fd(_call: Call, _fd: std::os::fd::RawFd) -> std::io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn file(_path: &std::ffi::CStr, _buf: &mut [u8]) -> Option<usize> {
        None
    }
}
