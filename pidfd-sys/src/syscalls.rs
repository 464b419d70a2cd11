//! System call numbers for the pidfd family (`asm/unistd.h`).
//!
//! Since Linux 5.1 every architecture numbers new system calls from one shared
//! table, so each number below is the generic one plus an ABI offset:
//!
//! | ABI | Offset |
//! |---|---|
//! | x86_64, i386, arm (EABI), arm64, riscv, powerpc, s390x, sparc, loongarch, m68k, csky, hexagon, … | 0 |
//! | x32 (`x86_64` with 32-bit pointers) | `__X32_SYSCALL_BIT` = `0x4000_0000` |
//! | mips o32 | 4000 |
//! | mips n64 | 5000 |
//! | mips n32 | 6000 |
//!
//! Alpha (offset 110) has no Rust target and is not covered.
//!
//! A kernel without the system call, or a seccomp filter that hides it, answers
//! `ENOSYS`. Container runtimes often answer `EPERM` instead, and Docker answers
//! `ENOSYS` for `clone3` on purpose unless the container has `CAP_SYS_ADMIN`.

use libc::c_long;

/// What this ABI adds to the generic system call number.
const NR_BASE: c_long = if cfg!(all(target_arch = "x86_64", target_pointer_width = "32")) {
    0x4000_0000
} else if cfg!(any(target_arch = "mips", target_arch = "mips32r6")) {
    4000
} else if cfg!(all(any(target_arch = "mips64", target_arch = "mips64r6"), target_pointer_width = "64")) {
    5000
} else if cfg!(all(any(target_arch = "mips64", target_arch = "mips64r6"), target_pointer_width = "32")) {
    6000
} else {
    0
};

/// `pidfd_send_signal(pidfd, sig, info, flags)`: send a signal through a pidfd.
///
/// Linux 5.1 (generic number 424). Older kernels: `ENOSYS`. `flags` must be 0
/// before 6.9 (see [`PIDFD_SIGNAL_THREAD`](crate::PIDFD_SIGNAL_THREAD)).
pub const SYS_pidfd_send_signal: c_long = NR_BASE + 424;

/// `pidfd_open(pid, flags)`: open a pidfd for an existing process.
///
/// Linux 5.3 (generic number 434). Older kernels: `ENOSYS`.
pub const SYS_pidfd_open: c_long = NR_BASE + 434;

/// `clone3(args, size)`: create a process from a [`clone_args`](crate::clone_args).
///
/// Linux 5.3 (generic number 435). Older kernels: `ENOSYS`; `clone3(NULL, 0)`
/// gives `EINVAL` where the call exists.
pub const SYS_clone3: c_long = NR_BASE + 435;

/// `pidfd_getfd(pidfd, targetfd, flags)`: duplicate a file descriptor of another process.
///
/// Linux 5.6 (generic number 438). Older kernels: `ENOSYS`.
pub const SYS_pidfd_getfd: c_long = NR_BASE + 438;

/// `process_madvise(pidfd, iovec, vlen, advice, flags)`: give memory advice for another process.
///
/// Linux 5.10 (generic number 440). Older kernels, or `CONFIG_ADVISE_SYSCALLS=n`: `ENOSYS`.
pub const SYS_process_madvise: c_long = NR_BASE + 440;

/// `process_mrelease(pidfd, flags)`: reap the memory of a dying process early.
///
/// Linux 5.15 (generic number 448). Older kernels: `ENOSYS`.
pub const SYS_process_mrelease: c_long = NR_BASE + 448;

/// `listns(req, ns_ids, nr_ns_ids, flags)`: list namespace ids (see
/// [`ns_id_req`](crate::ns_id_req)).
///
/// Linux 6.19 (generic number 470). Older kernels: `ENOSYS`.
pub const SYS_listns: c_long = NR_BASE + 470;

// Agreement with `libc` on the targets where libc 0.2.191 defines all six
// numbers (checked by reading its per-arch modules).
#[cfg(all(
    target_os = "linux",
    any(
        all(
            target_env = "gnu",
            any(
                target_arch = "x86_64",
                target_arch = "x86",
                target_arch = "aarch64",
                target_arch = "arm",
                target_arch = "riscv32",
                target_arch = "riscv64",
                target_arch = "powerpc",
                target_arch = "powerpc64",
                target_arch = "s390x",
                target_arch = "loongarch64",
                target_arch = "mips",
                target_arch = "mips32r6",
                target_arch = "mips64",
                target_arch = "mips64r6",
                target_arch = "sparc",
                target_arch = "sparc64",
                target_arch = "csky",
                target_arch = "m68k",
            )
        ),
        all(
            target_env = "musl",
            any(
                target_arch = "x86_64",
                target_arch = "x86",
                target_arch = "aarch64",
                target_arch = "arm",
                target_arch = "powerpc",
                target_arch = "powerpc64",
                target_arch = "s390x",
                target_arch = "loongarch64",
                target_arch = "mips",
                target_arch = "mips64",
            )
        ),
    )
))]
const _: () = {
    assert!(SYS_pidfd_send_signal == libc::SYS_pidfd_send_signal);
    assert!(SYS_pidfd_open == libc::SYS_pidfd_open);
    assert!(SYS_clone3 == libc::SYS_clone3);
    assert!(SYS_pidfd_getfd == libc::SYS_pidfd_getfd);
    assert!(SYS_process_madvise == libc::SYS_process_madvise);
    assert!(SYS_process_mrelease == libc::SYS_process_mrelease);
};
