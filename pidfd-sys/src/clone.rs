//! `clone3` arguments and the clone flags added for pidfds and `clone3`
//! (`linux/sched.h`).
//!
//! The classic `CLONE_*` flags (`CLONE_VM`, `CLONE_NEWPID`, …) are in `libc` and
//! are not repeated here. The flags below are `u64` because `clone3` takes a
//! 64-bit flag word; only [`CLONE_PIDFD`] also fits the `clone()` flag `int`.

use libc::c_int;

/// Argument block of `clone3(args, size)`.
///
/// Extensible by size: pass `size_of::<clone_args>()` (or one of the
/// `CLONE_ARGS_SIZE_VER*` values) as `size`. Sizes below
/// [`CLONE_ARGS_SIZE_VER0`] give `EINVAL`; a size larger than the kernel knows
/// gives `E2BIG` unless the unknown tail is zero. All fields are
/// `__aligned_u64`, so the struct is 8-byte aligned on every ABI; pointers and
/// file descriptors are stored widened to `u64`.
///
/// Linux 5.3 (64 bytes); `set_tid`, `set_tid_size` 5.5 (80 bytes); `cgroup` 5.7
/// (88 bytes, unchanged through 7.3). Older kernels: `ENOSYS`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct clone_args {
    /// Flags for the new process: `CLONE_*` from libc and this crate, except
    /// `CSIGNAL` bits and `CLONE_DETACHED`.
    pub flags: u64,
    /// With [`CLONE_PIDFD`]: address of an `int` that receives the pidfd.
    pub pidfd: u64,
    /// With `CLONE_CHILD_SETTID` / `CLONE_CHILD_CLEARTID`: address of the child's TID word.
    pub child_tid: u64,
    /// With `CLONE_PARENT_SETTID`: address in the parent that receives the child's TID.
    pub parent_tid: u64,
    /// Signal sent to the parent when the child exits (e.g. `SIGCHLD`); 0 for none.
    pub exit_signal: u64,
    /// Lowest address of the child's stack; 0 to share the parent's stack pointer
    /// (fork-like).
    pub stack: u64,
    /// Size in bytes of the child's stack.
    pub stack_size: u64,
    /// With `CLONE_SETTLS`: the new TLS descriptor.
    pub tls: u64,
    /// Address of an array of `pid_t` choosing the child's PID in each nested pid
    /// namespace, innermost first (5.5).
    pub set_tid: u64,
    /// Number of entries in `set_tid` (5.5).
    pub set_tid_size: u64,
    /// With [`CLONE_INTO_CGROUP`]: a cgroup v2 directory fd to place the child in (5.7).
    pub cgroup: u64,
}

/// Size of the first published [`clone_args`] (up to `tls`).
///
/// Linux 5.3.
pub const CLONE_ARGS_SIZE_VER0: usize = 64;

/// Size of [`clone_args`] with `set_tid` and `set_tid_size`.
///
/// Linux 5.5. Older kernels: `E2BIG` if the extra fields are non-zero.
pub const CLONE_ARGS_SIZE_VER1: usize = 80;

/// Size of [`clone_args`] with `cgroup` (the current struct).
///
/// Linux 5.7. Older kernels: `E2BIG` if `cgroup` is non-zero.
pub const CLONE_ARGS_SIZE_VER2: usize = 88;

/// Put a pidfd for the child in the parent.
///
/// `clone3` writes it to `*clone_args.pidfd`; `clone()` writes it through the
/// `parent_tid` argument, so it cannot be combined with `CLONE_PARENT_SETTID`
/// (`EINVAL`). Linux 5.2; with `CLONE_THREAD` only from 6.9 (before: `EINVAL`).
/// Older kernels ignore the bit silently (it was the dead `CLONE_PID`), so
/// preset the result to `-1` and check it.
pub const CLONE_PIDFD: u64 = 0x0000_1000;

/// `clone3` only: reset all signal handlers of the child to `SIG_DFL`.
///
/// Linux 5.5. Older kernels: `EINVAL`.
pub const CLONE_CLEAR_SIGHAND: u64 = 1 << 32;

/// `clone3` only: start the child in the cgroup given by `clone_args.cgroup`.
///
/// Linux 5.7. Older kernels: `EINVAL`.
pub const CLONE_INTO_CGROUP: u64 = 1 << 33;

/// `clone3` only: the child is reaped automatically when it exits; no zombie is
/// left and no exit signal is sent. Requires `exit_signal == 0`; not allowed
/// with `CLONE_THREAD` or `CLONE_PARENT`.
///
/// Linux 7.1. Older kernels: `EINVAL`.
pub const CLONE_AUTOREAP: u64 = 1 << 34;

/// `clone3` only: set `no_new_privs` on the child.
///
/// Linux 7.1. Older kernels: `EINVAL`.
pub const CLONE_NNP: u64 = 1 << 35;

/// `clone3` only: kill the child when the last reference to the pidfd returned
/// by this `clone3` is closed. Requires [`CLONE_PIDFD`] and [`CLONE_AUTOREAP`],
/// not allowed with `CLONE_THREAD`, and needs [`CLONE_NNP`] or `CAP_SYS_ADMIN`
/// (`EPERM` otherwise).
///
/// Linux 7.1. Older kernels: `EINVAL`.
pub const CLONE_PIDFD_AUTOKILL: u64 = 1 << 36;

/// `clone3` only: give the child a new, empty mount namespace.
///
/// Linux 7.1. Older kernels: `EINVAL`.
pub const CLONE_EMPTY_MNTNS: u64 = 1 << 37;

/// New time namespace. It shares its bit with the `CSIGNAL` mask, so it works
/// only with `unshare`, `setns` and `clone3`, not with `clone()`.
///
/// Typed `c_int` like libc's other `CLONE_NEW*` flags (widen it for
/// `clone_args.flags`); defined here because libc has it only for glibc and musl.
/// Linux 5.6. Older kernels: `EINVAL`.
pub const CLONE_NEWTIME: c_int = 0x0000_0080;

/// `unshare` only: unshare into a new, empty mount namespace. It shares its bit
/// with `CLONE_PARENT_SETTID`, which `unshare` does not accept.
///
/// Linux 7.1. Older kernels: `EINVAL`.
pub const UNSHARE_EMPTY_MNTNS: c_int = 0x0010_0000;

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<clone_args>() == CLONE_ARGS_SIZE_VER2);
    assert!(align_of::<clone_args>() == 8);
    assert!(offset_of!(clone_args, flags) == 0);
    assert!(offset_of!(clone_args, pidfd) == 8);
    assert!(offset_of!(clone_args, child_tid) == 16);
    assert!(offset_of!(clone_args, parent_tid) == 24);
    assert!(offset_of!(clone_args, exit_signal) == 32);
    assert!(offset_of!(clone_args, stack) == 40);
    assert!(offset_of!(clone_args, stack_size) == 48);
    assert!(offset_of!(clone_args, tls) == 56);
    assert!(offset_of!(clone_args, set_tid) == CLONE_ARGS_SIZE_VER0);
    assert!(offset_of!(clone_args, set_tid_size) == 72);
    assert!(offset_of!(clone_args, cgroup) == CLONE_ARGS_SIZE_VER1);
};

assert_no_padding!(clone_args {
    flags,
    pidfd,
    child_tid,
    parent_tid,
    exit_signal,
    stack,
    stack_size,
    tls,
    set_tid,
    set_tid_size,
    cgroup,
});

#[cfg(any(target_os = "linux", target_os = "android"))]
const _: () = assert!(CLONE_PIDFD == libc::CLONE_PIDFD as u64);
