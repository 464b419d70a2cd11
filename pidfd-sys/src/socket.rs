//! Socket options and control messages that carry pidfds (`asm/socket.h`,
//! `linux/socket.h`).
//!
//! All three are `SOL_SOCKET` level and appeared in Linux 6.5; older kernels
//! answer `ENOPROTOOPT`. The option numbers differ on sparc (and on parisc,
//! which has no Rust target: `0x404A` / `0x404B`); alpha, mips and powerpc use
//! the generic numbers.

use libc::c_int;

/// True on sparc, whose `SO_*` numbers come from SunOS.
const SPARC: bool = cfg!(any(target_arch = "sparc", target_arch = "sparc64"));

/// `setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &1)`: attach an [`SCM_PIDFD`]
/// control message with the sender's pidfd to each message received on this
/// AF_UNIX socket.
///
/// Linux 6.5: 76 (generic), `0x55` (sparc). Older kernels: `ENOPROTOOPT`.
pub const SO_PASSPIDFD: c_int = if SPARC { 0x55 } else { 76 };

/// `getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &mut int)`: get a pidfd for the peer
/// of a connected AF_UNIX socket (the process that connected or created it).
///
/// Linux 6.5: 77 (generic), `0x56` (sparc). Older kernels: `ENOPROTOOPT`.
/// Before 6.16 a peer that has already been reaped gives `EINVAL`; from 6.16 you
/// get a pidfd of the reaped process.
pub const SO_PEERPIDFD: c_int = if SPARC { 0x56 } else { 77 };

/// `cmsg_type` (level `SOL_SOCKET`) of the control message that carries the
/// sender's pidfd as one `int` when [`SO_PASSPIDFD`] is set.
///
/// Linux 6.5; the same on every architecture. Not exported by the uapi headers
/// (it is in the kernel's `include/linux/socket.h`). Before 6.16, a sender that
/// has already been reaped yields a negative errno as the payload instead of an
/// fd: treat a negative value as "no pidfd". Receive with `MSG_CMSG_CLOEXEC`.
pub const SCM_PIDFD: c_int = 0x04;

#[cfg(target_os = "linux")]
const _: () = {
    assert!(SO_PASSPIDFD == libc::SO_PASSPIDFD);
    assert!(SO_PEERPIDFD == libc::SO_PEERPIDFD);
};
