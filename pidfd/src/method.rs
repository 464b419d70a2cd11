//! Which creation path a [`Command`](crate::Command) spawn takes: the first choice, the next
//! one after the kernel or a policy refuses a path, and what [`features()`](crate::features)
//! reports. The spawn policy lives here and nowhere else; the paths themselves (their flags,
//! the clone, the child side) live in `sys`.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys::{self, Method};
use crate::{Feature, Support};

/// Set when the kernel answered the vfork clone3 with a definite "no": `ENOSYS`, or `EINVAL`
/// (no `CLONE_CLEAR_SIGHAND` before 5.5). Never after an `EPERM` (a policy may change), nor
/// for an error the fault seam injected.
static CLONE3_VFORK_REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether the kernel refused the vfork clone3 for good (see [`CLONE3_VFORK_REFUSED`]).
pub(crate) fn clone3_vfork_refused() -> bool {
    CLONE3_VFORK_REFUSED.load(Ordering::Relaxed)
}

/// Whether a spawn without credentials or cgroup tries the vfork clone3 first: this
/// architecture has its trampoline, the kernel has clone3 (the probe) and has not refused the
/// vfork clone3 for good at an earlier spawn.
#[cfg(test)]
pub(crate) fn clone3_vfork_usable() -> bool {
    base(&supported, false) == Method::Clone3Vfork
}

/// The path of a spawn without a cgroup, given what the kernel has (`has`). `own_memory`: the
/// child changes its credentials, which makes the kernel mark its memory non-dumpable, so it
/// must not share ours (the parent would lose core dumps, same-user ptrace and `/proc` access).
fn base(has: &dyn Fn(Feature) -> bool, own_memory: bool) -> Method {
    if !has(Feature::ClonePidfd) {
        Method::Fork
    } else if own_memory {
        Method::ForkClone
    } else if sys::CLONE3_VFORK && !clone3_vfork_refused() && has(Feature::Clone3) {
        Method::Clone3Vfork
    } else {
        Method::VforkClone
    }
}

fn supported(f: Feature) -> bool {
    f.is_supported()
}

/// The first path to try.
pub(crate) fn first(own_memory: bool, cgroup: Option<RawFd>) -> Method {
    match cgroup {
        Some(cgroup) if Feature::CloneIntoCgroup.is_supported() => Method::Clone3Cgroup { cgroup },
        _ => base(&supported, own_memory),
    }
}

/// The path to try after `method` was refused with `errno` before a child existed, or `None`:
/// the error stands (a resource error such as `EAGAIN` is reported, not papered over). Leaving
/// `Clone3Cgroup` means the child must place itself (`cgroup.procs`): the caller arranges it.
pub(crate) fn next(method: Method, errno: i32, own_memory: bool) -> Option<Method> {
    match (method, errno) {
        // Missing (ENOSYS), denied (EPERM: a seccomp policy), or without CLONE_CLEAR_SIGHAND
        // (EINVAL, 5.3 and 5.4): the kernel's definite answers are remembered.
        (Method::Clone3Vfork, libc::ENOSYS | libc::EPERM | libc::EINVAL) => {
            if errno != libc::EPERM
                && !sys::fault::injected(sys::Call::Clone3)
                && !sys::fault::injected(sys::Call::Vfork)
            {
                CLONE3_VFORK_REFUSED.store(true, Ordering::Relaxed);
            }
            Some(Method::VforkClone)
        }
        (Method::Clone3Cgroup { .. }, libc::ENOSYS | libc::EPERM) => Some(base(&supported, own_memory)),
        // A policy that filters clone's flags, or CLONE_PIDFD ignored: a copy, then a plain
        // clone whose pidfd the parent opens.
        (Method::VforkClone, libc::ENOSYS | libc::EPERM) => Some(Method::ForkClone),
        (Method::ForkClone, libc::ENOSYS | libc::EPERM) => Some(Method::Fork),
        _ => None,
    }
}

/// What [`features()`](crate::features) reports for spawning, from its snapshot `support`:
/// `[plain spawn, spawn with uid/gid/groups, spawn into a cgroup]`.
pub(crate) fn described(support: &dyn Fn(Feature) -> Option<Support>) -> [&'static str; 3] {
    let has = |f| support(f) == Some(Support::Supported);
    let plain = match base(&has, false) {
        Method::Clone3Vfork => "clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_CLEAR_SIGHAND); clone() where refused",
        other => other.op(),
    };
    let cgroup = match (has(Feature::CloneIntoCgroup), base(&has, false)) {
        (true, _) => Method::Clone3Cgroup { cgroup: -1 }.op(),
        (false, Method::Fork) => "fork; the child writes cgroup.procs",
        (false, _) => "vfork clone; the child writes cgroup.procs",
    };
    [plain, base(&has, true).op(), cgroup]
}
