//! Entering namespaces: the plan (atomic `setns(pidfd)` or one nsfd per kind), its execution
//! on a thread, the kernel's rules as errors, and [`run_in_namespaces`].

use std::io;
use std::os::fd::AsFd;

use pidfd::{Feature, PidFd};

use crate::error::from_errno;
use crate::nsfd::{same_as_current, thread_count};
use crate::open;
use crate::path::{self, Who};
use crate::{Error, Namespace, NamespaceSet, NsFd, Result, sys};

/// How to enter the namespaces of a set, decided (and the namespace fds opened) on the
/// caller's thread, executed on whichever thread is to enter them.
pub(crate) struct Plan<'a> {
    set: NamespaceSet,
    how: How<'a>,
}

enum How<'a> {
    /// `setns(pidfd, flags)` (5.8): all or nothing.
    Atomic(&'a PidFd),
    /// One nsfd per kind, in [`NamespaceSet::ENTRY_ORDER`] (the user namespace last).
    Each(Vec<NsFd>),
}

/// Checks `set` and leaves out the user and time namespaces the calling thread is already in
/// (the kernel refuses to re-enter those; the others are no-ops when equal).
pub(crate) fn effective_set(pidfd: &PidFd, set: NamespaceSet) -> Result<NamespaceSet> {
    if set.is_empty() {
        return Err(Error::invalid("no namespace to enter"));
    }
    if set.bits() & !NamespaceSet::all().bits() != 0 {
        return Err(Error::invalid("the namespace set has bits that are not namespace types"));
    }
    let mut set = set;
    if set.contains(NamespaceSet::USER) && already_in(pidfd, Namespace::User, &[Namespace::User])? {
        set.remove(NamespaceSet::USER);
    }
    if set.contains(NamespaceSet::TIME)
        && already_in(pidfd, Namespace::Time, &[Namespace::Time, Namespace::TimeForChildren])?
    {
        set.remove(NamespaceSet::TIME);
    }
    Ok(set)
}

/// Whether the process's namespace `ns` is the calling thread's namespace of every kind in
/// `mine`. A process that has exited, or a kind the kernel does not have, is that error; any
/// other unanswered question (no permission, no `/proc`) is "no": `setns` then decides.
fn already_in(pidfd: &PidFd, ns: Namespace, mine: &[Namespace]) -> Result<bool> {
    let target = match open::namespace(pidfd, ns) {
        Ok(t) => t,
        Err(e @ (Error::Pidfd(pidfd::Error::Exited) | Error::NamespaceDisabled { .. })) => return Err(e),
        Err(_) => return Ok(false),
    };
    Ok(mine.iter().all(|&kind| same_as_current(&target, kind) == Some(true)))
}

impl<'a> Plan<'a> {
    /// Picks the mechanism; for the fallback opens every namespace fd now (each one the
    /// process's own, see [`PidFdNsExt::namespace`](crate::PidFdNsExt::namespace)), so the process can exit afterwards
    /// without changing the outcome.
    pub(crate) fn prepare(pidfd: &'a PidFd, set: NamespaceSet) -> Result<Plan<'a>> {
        let how = if set.is_empty() || Feature::SetnsPidfd.is_supported() {
            How::Atomic(pidfd)
        } else {
            How::Each(set.namespaces().map(|ns| open::namespace(pidfd, ns)).collect::<Result<_>>()?)
        };
        Ok(Plan { set, how })
    }

    pub(crate) fn set(&self) -> NamespaceSet {
        self.set
    }

    /// Enters the namespaces on the calling thread.
    pub(crate) fn execute(&self) -> Result<()> {
        if self.set.is_empty() {
            return Ok(());
        }
        if self.set.contains(NamespaceSet::MOUNT) {
            sys::unshare(libc::CLONE_FS).map_err(|e| Error::os("unshare(CLONE_FS)", e))?;
        }
        match &self.how {
            How::Atomic(pidfd) => {
                sys::setns(pidfd.as_fd(), self.set.bits() as libc::c_int).map_err(|e| pidfd_setns_error(self.set, e))
            }
            How::Each(fds) => enter_each(fds),
        }
    }
}

/// The per-namespace fallback, in two passes as `nsenter` does:
/// 1. every kind but the user namespace, in [`NamespaceSet::ENTRY_ORDER`], with the caller's
///    own credentials. Entering the user namespace first would give them up: inside it the
///    thread has capabilities only over the namespaces that user namespace owns, and none over
///    those owned by an ancestor (such as the ones a container shares with the host), which
///    the caller (root, say) could enter before;
/// 2. the user namespace, then again the kinds that pass 1 was refused for lack of privilege
///    (`EPERM`): an unprivileged owner of the user namespace gets the capability over the
///    namespaces it owns only inside it.
///
/// Errors: any error of pass 1 other than a permission error is returned at once (entering the
/// user namespace cannot lift it, and would only move the thread further). A failure to enter
/// the user namespace is returned as such (it is why the kinds refused in pass 1 stay
/// refused). A kind refused again after the user namespace was entered returns the error of
/// that second attempt, the kernel's answer with the user namespace's privileges (pass 1's was
/// a permission error that the user namespace was meant to lift). Without a user namespace in
/// the set, pass 1 is all and its first error is returned.
fn enter_each(fds: &[NsFd]) -> Result<()> {
    let user = fds.iter().find(|f| f.namespace() == Namespace::User);
    let mut refused = Vec::new();
    for fd in fds.iter().filter(|f| f.namespace() != Namespace::User) {
        match fd.setns() {
            Ok(()) => {}
            Err(Error::Pidfd(pidfd::Error::PermissionDenied { .. })) if user.is_some() => refused.push(fd),
            Err(e) => return Err(e),
        }
    }
    if let Some(user) = user {
        user.setns()?;
        refused.into_iter().try_for_each(NsFd::setns)?;
    }
    Ok(())
}

/// Runs `f` on a fresh thread that has entered the namespaces in `set` of the process `pidfd`
/// names, and returns what `f` returned. The calling thread's namespaces are untouched.
///
/// The thread gets its own filesystem context first when `set` has
/// [`MOUNT`](NamespaceSet::MOUNT) (`unshare(CLONE_FS)`). With [`PID`](NamespaceSet::PID), only
/// the processes `f` spawns are created in the PID namespace (the thread itself stays where
/// it is, and cannot create threads of its own there). A panic in `f` is resumed on the
/// caller's thread.
///
/// Only the fresh thread is joined before this returns; what `f` starts is not. A thread that
/// `f` spawns (directly, or by starting a thread pool, a runtime or a library's helper thread
/// for the first time inside `f`) is created by the fresh thread and inherits its namespaces
/// (and, with [`MOUNT`](NamespaceSet::MOUNT), its own root and working directory, which it
/// shares), and it keeps them: it may still be running, in the target namespaces, after
/// `run_in_namespaces` has returned, and a pool started this way runs all its later work there,
/// whoever submits it. The same holds for the processes `f` spawns. With
/// [`PID`](NamespaceSet::PID) in `set` and a target PID namespace other than the caller's, `f`
/// cannot spawn threads at all (`clone(CLONE_THREAD)` fails with `EINVAL` where the PID
/// namespace for children differs from the thread's own).
///
/// User and time namespaces cannot be entered this way: the kernel lets only a
/// single-threaded process enter them, and the fresh thread makes the process
/// multi-threaded. Unless the caller is already in them (then they are left out), the result
/// is [`Error::MultiThreaded`]; enter them with [`PidFdNsExt::enter_namespaces`](crate::PidFdNsExt::enter_namespaces) from a
/// single-threaded process, or in a child process (e.g. `nsenter`).
///
/// # Kernel support
/// As [`PidFdNsExt::enter_namespaces`](crate::PidFdNsExt::enter_namespaces): `setns(pidfd, flags)` (5.8), else one nsfd per kind
/// (opened on the calling thread, entered on the fresh one).
///
/// # Errors
/// As [`PidFdNsExt::enter_namespaces`](crate::PidFdNsExt::enter_namespaces), returned before `f` runs; [`pidfd::Error::Os`] if no thread
/// can be spawned.
///
/// # Example
/// ```no_run
/// use pidfd::PidFd;
/// use pidfd_ns::{NamespaceSet, run_in_namespaces};
///
/// let container = PidFd::open(4242)?;
/// let hostname = run_in_namespaces(&container, NamespaceSet::UTS | NamespaceSet::NET, || {
///     std::fs::read_to_string("/proc/sys/kernel/hostname")
/// })??;
/// println!("{hostname}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_in_namespaces<T, F>(pidfd: &PidFd, set: NamespaceSet, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let set = effective_set(pidfd, set)?;
    for (flag, namespace) in [(NamespaceSet::USER, Namespace::User), (NamespaceSet::TIME, Namespace::Time)] {
        if set.contains(flag) {
            return Err(Error::MultiThreaded { namespace });
        }
    }
    let plan = Plan::prepare(pidfd, set)?;
    debug_assert_eq!(plan.set(), set);
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("pidfd-ns".into())
            .spawn_scoped(scope, move || -> Result<T> {
                plan.execute()?;
                Ok(f())
            })
            .map_err(|e| Error::os("spawn a thread", e))?;
        handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Maps a `setns(pidfd, flags)` error. The kernel answers `EINVAL` both for a kind it was
/// built without and for a user namespace in a multi-threaded process: a requested kind
/// without a `/proc/thread-self/ns` file is the first answer (as the per-namespace path says
/// for that kind), else a user namespace with other threads around is the second.
#[cold]
fn pidfd_setns_error(set: NamespaceSet, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EUSERS) if set.contains(NamespaceSet::TIME) => Error::MultiThreaded { namespace: Namespace::Time },
        Some(libc::EINVAL) => {
            if let Some(namespace) = set.namespaces().find(|&ns| kernel_lacks(ns) == Some(true)) {
                Error::NamespaceDisabled { namespace }
            } else if set.contains(NamespaceSet::USER) && thread_count().is_some_and(|n| n > 1) {
                Error::MultiThreaded { namespace: Namespace::User }
            } else {
                from_errno("setns(pidfd)", e)
            }
        }
        _ => from_errno("setns(pidfd)", e),
    }
}

/// Whether the kernel has no namespaces of kind `ns`: the calling thread has no
/// `/proc/thread-self/ns/<name>` while it has `/proc/thread-self/ns`. `None` when that cannot
/// be told (no `/proc`).
fn kernel_lacks(ns: Namespace) -> Option<bool> {
    let mut buf = [0; 64];
    match sys::stat_id(path::ns_path(&mut buf, Who::ThreadSelf, Some(ns)).ok()?) {
        Ok(_) => Some(false),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let mut buf = [0; 64];
            sys::stat_id(path::ns_path(&mut buf, Who::ThreadSelf, None).ok()?).ok().map(|_| true)
        }
        Err(_) => None,
    }
}
