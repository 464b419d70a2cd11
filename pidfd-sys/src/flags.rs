//! Flags for `pidfd_open` and `pidfd_send_signal`, and the `waitid` id type
//! (`linux/pidfd.h`, `linux/wait.h`).
//!
//! `PIDFD_NONBLOCK` and `PIDFD_THREAD` are defined as `O_NONBLOCK` and `O_EXCL`,
//! whose values differ by architecture (`asm/fcntl.h`):
//!
//! | Architectures | `O_NONBLOCK` | `O_EXCL` |
//! |---|---|---|
//! | generic (x86, arm, arm64, riscv, powerpc, s390x, loongarch, …) | `0o4000` | `0o200` |
//! | mips | `0x80` | `0x400` |
//! | sparc | `0x4000` | `0x800` |
//!
//! (Alpha: `1 << 2` / `1 << 11`; parisc: `0o200000` / `0o2000`. Neither has a Rust
//! target.) A pidfd opened with either flag shows it in `fcntl(F_GETFL)`.

use libc::c_uint;

/// True on mips, whose `O_*` values come from IRIX.
const MIPS: bool =
    cfg!(any(target_arch = "mips", target_arch = "mips32r6", target_arch = "mips64", target_arch = "mips64r6",));
/// True on sparc, whose `O_*` values come from SunOS.
const SPARC: bool = cfg!(any(target_arch = "sparc", target_arch = "sparc64"));

/// `pidfd_open` flag: the pidfd is non-blocking (`O_NONBLOCK`), so `waitid(P_PIDFD)`
/// on a running child gives `EAGAIN` instead of blocking.
///
/// Linux 5.10. Older kernels: `EINVAL`.
pub const PIDFD_NONBLOCK: c_uint = if MIPS {
    0x80
} else if SPARC {
    0x4000
} else {
    0o4000
};

/// `pidfd_open` flag: the pidfd refers to one thread rather than to a thread
/// group (`O_EXCL`), so `pid` may be any TID.
///
/// Linux 6.9. Older kernels: `EINVAL`.
pub const PIDFD_THREAD: c_uint = if MIPS {
    0x400
} else if SPARC {
    0x800
} else {
    0o200
};

/// `pidfd_send_signal` flag: deliver to the thread the pidfd refers to.
///
/// Linux 6.9. Older kernels: `EINVAL` (`flags` had to be 0). Only one
/// `PIDFD_SIGNAL_*` flag may be given; two give `EINVAL`.
pub const PIDFD_SIGNAL_THREAD: c_uint = 1 << 0;

/// `pidfd_send_signal` flag: deliver to the thread group of the target, like `kill`.
///
/// Linux 6.9. Older kernels: `EINVAL`.
pub const PIDFD_SIGNAL_THREAD_GROUP: c_uint = 1 << 1;

/// `pidfd_send_signal` flag: deliver to the process group of the target, like `killpg`.
///
/// Linux 6.9. Older kernels: `EINVAL`.
pub const PIDFD_SIGNAL_PROCESS_GROUP: c_uint = 1 << 2;

/// `idtype_t` for `waitid(P_PIDFD, pidfd, …)`: wait for the child a pidfd refers to.
///
/// Linux 5.4. Older kernels: `EINVAL`. A pidfd that is not your child (or a
/// thread pidfd) gives `ECHILD`.
pub const P_PIDFD: c_uint = 3;

// `libc` derives both flags from its own per-arch `O_NONBLOCK` / `O_EXCL`.
#[cfg(target_os = "linux")]
const _: () = {
    assert!(PIDFD_NONBLOCK == libc::PIDFD_NONBLOCK);
    assert!(PIDFD_THREAD == libc::PIDFD_THREAD);
};

#[cfg(any(target_os = "linux", target_os = "android"))]
const _: () = {
    assert!(PIDFD_NONBLOCK == libc::O_NONBLOCK as c_uint);
    assert!(PIDFD_THREAD == libc::O_EXCL as c_uint);
    assert!(P_PIDFD == libc::P_PIDFD as c_uint);
};
