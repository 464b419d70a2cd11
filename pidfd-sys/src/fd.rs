//! Special file descriptor values (`linux/fcntl.h`, `linux/pidfd.h`).
//!
//! The kernel reserves the descriptor range `-10000` down to `-40000` for
//! sentinels. Because these are legitimate negative arguments, an API that may
//! receive them must not read "negative" as "no descriptor".
//!
//! Every kernel older than the one that introduced a sentinel answers `EBADF`.

use libc::c_int;

/// The calling thread, as a pidfd.
///
/// Linux 6.15. Accepted only by `pidfd_send_signal`, `process_madvise` and
/// `process_mrelease`; `pidfd_getfd`, `waitid`, `setns` and the pidfs ioctls
/// answer `EBADF` or `EINVAL`. Older kernels: `EBADF`. The value never changed.
pub const PIDFD_SELF_THREAD: c_int = -10000;

/// The calling thread group (process), as a pidfd.
///
/// Linux 6.17 value. On 6.15 and 6.16 the same sentinel was
/// [`PIDFD_SELF_THREAD_GROUP_6_15`] (`-20000`), which 6.17 and later answer with
/// `EBADF`; `-10001` in turn gives `EBADF` on 6.15 and 6.16. Accepted by the same
/// calls as [`PIDFD_SELF_THREAD`].
pub const PIDFD_SELF_THREAD_GROUP: c_int = -10001;

/// The value `PIDFD_SELF_THREAD_GROUP` had in `linux/pidfd.h` on Linux 6.15 and 6.16.
///
/// 6.17 moved the sentinels into the reserved range of `linux/fcntl.h` and
/// renumbered this one to [`PIDFD_SELF_THREAD_GROUP`]; 6.17 and later answer
/// `-20000` with `EBADF`, and so does every kernel before 6.15.
pub const PIDFD_SELF_THREAD_GROUP_6_15: c_int = -20000;

/// Alias of [`PIDFD_SELF_THREAD`]: "this thread", what most callers want.
///
/// Linux 6.15. Older kernels: `EBADF`.
pub const PIDFD_SELF: c_int = PIDFD_SELF_THREAD;

/// Alias of [`PIDFD_SELF_THREAD_GROUP`]: "this process".
///
/// Linux 6.17 value; see [`PIDFD_SELF_THREAD_GROUP`] for 6.15 and 6.16.
pub const PIDFD_SELF_PROCESS: c_int = PIDFD_SELF_THREAD_GROUP;

/// The root of pidfs, usable as the mount fd of `open_by_handle_at`.
///
/// Linux 6.17. Older kernels: `EBADF` (pass any pidfd as the mount fd instead).
pub const FD_PIDFS_ROOT: c_int = -10002;

/// The root of nsfs, usable as the mount fd of `open_by_handle_at` for
/// namespace file handles.
///
/// Linux 6.18. Older kernels: `EBADF`.
pub const FD_NSFS_ROOT: c_int = -10003;

/// The root of failfs, an internal filesystem that fails every lookup with
/// `EOPNOTSUPP`; understood by `fchdir` and `fchroot`.
///
/// Linux 7.3. Older kernels: `EBADF`.
pub const FD_FAILFS_ROOT: c_int = -10004;

/// A descriptor that is guaranteed to be invalid (`-10000 - EBADF`).
///
/// Linux 6.17 (reserved). Every kernel answers `EBADF` for it.
pub const FD_INVALID: c_int = -10009;
