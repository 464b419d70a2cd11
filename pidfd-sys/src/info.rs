//! `PIDFD_GET_INFO` and `struct pidfd_info` (`linux/pidfd.h`).
//!
//! `ioctl(pidfd, pidfd_get_info_cmd(size), &mut info)` asks pidfs for the
//! identity, credentials, cgroup and exit status of the process behind a pidfd.
//! The struct is extensible by size and has had four published sizes, so this
//! module has one type per size and one request number per size:
//!
//! | Type | Size | Kernel | Added | `supported_mask` at |
//! |---|---:|---|---|---:|
//! | [`pidfd_info_v0`] | 64 | 6.13 | base fields; `exit_code` from 6.15 (was spare) | – |
//! | [`pidfd_info_v1`] | 72 | 6.16 | `coredump_mask`, spare | – |
//! | [`pidfd_info_v2`] | 80 | 6.19, 7.0 | `coredump_signal`, `supported_mask` | **72** |
//! | [`pidfd_info_v3`] | 88 | 7.1 + | `coredump_code`, pad | **80** |
//!
//! `supported_mask` **moved** between VER2 and VER3: on 7.1 and later, bytes
//! 72..80 are `coredump_code` and a pad. Read it only through the type whose size
//! you passed. A 6.19/7.0 kernel given 88 bytes copies its 80 and zero-fills the
//! rest, so a zero `supported_mask` at offset 80 together with the
//! [`PIDFD_INFO_SUPPORTED_MASK`] bit means "look at offset 72 instead".
//!
//! The kernel copies `min(size, its own size)` bytes and zero-fills the rest of a
//! larger buffer, so passing [`PIDFD_INFO_SIZE_VER3`] is safe on every kernel
//! from 6.13 on. Two rules for readers:
//!
//! * Trust a field only if its bit is in the returned `mask` **and** the size you
//!   passed covers it: 6.16 to 6.18 report [`PIDFD_INFO_COREDUMP`] even for a
//!   64-byte request that cannot hold `coredump_mask`. Use
//!   `core::mem::offset_of!` on the struct you passed to decide.
//! * `exit_code` is filled only after the task is reaped, and only if
//!   [`PIDFD_INFO_EXIT`] was requested.
//!
//! Errors: `ENOTTY` before 6.11 or on a non-pidfs fd; `EINVAL` on 6.11 and 6.12
//! (the namespace ioctls exist but this one does not); a size below 64 gives
//! `EINVAL` on 6.13–6.17 and `ENOTTY` from 6.18; a reaped task without
//! [`PIDFD_INFO_EXIT`] in the request gives `ESRCH`; a task outside the caller's
//! pid namespace gives `ESRCH`, or `EREMOTE` from 7.0 (backported to 6.18.14 and
//! 6.19.10). Always use the `_IOWR` direction: from 6.18 any other gives `ENOTTY`.

use crate::PIDFS_IOCTL_MAGIC;
use crate::ioctl::_IOWR;

/// `_IOC_NR` of `PIDFD_GET_INFO`.
const PIDFD_GET_INFO_NR: u32 = 11;

/// Size of [`pidfd_info_v0`], the first published struct.
///
/// Linux 6.13. The smallest size any kernel accepts.
pub const PIDFD_INFO_SIZE_VER0: usize = 64;

/// Size of [`pidfd_info_v1`] (adds `coredump_mask`).
///
/// Linux 6.16.
pub const PIDFD_INFO_SIZE_VER1: usize = 72;

/// Size of [`pidfd_info_v2`] (adds `coredump_signal` and `supported_mask` at offset 72).
///
/// Linux 6.19 and 7.0.
pub const PIDFD_INFO_SIZE_VER2: usize = 80;

/// Size of [`pidfd_info_v3`] (adds `coredump_code`; `supported_mask` moves to offset 80).
///
/// Linux 7.1, unchanged through 7.3.
pub const PIDFD_INFO_SIZE_VER3: usize = 88;

/// Mask bit: `pid`, `tgid` and `ppid` are valid. Returned for every live task,
/// requested or not.
///
/// Linux 6.13.
pub const PIDFD_INFO_PID: u64 = 1 << 0;

/// Mask bit: the `*uid` and `*gid` fields are valid, mapped into the caller's user
/// namespace. Returned for every live task, requested or not.
///
/// Linux 6.13.
pub const PIDFD_INFO_CREDS: u64 = 1 << 1;

/// Mask bit: `cgroupid` (the cgroup v2 id) is valid. Returned whenever available,
/// requested or not; for a reaped task it is the cgroup at exit.
///
/// Linux 6.13.
pub const PIDFD_INFO_CGROUPID: u64 = 1 << 2;

/// Mask bit: `exit_code` is valid. Returned only if requested and the task has
/// been reaped.
///
/// Linux 6.15. Older kernels never return it; on them a reaped task gives `ESRCH`.
pub const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// Mask bit: `coredump_mask` is valid. Returned only if requested.
///
/// Linux 6.16. Older kernels never return it. Up to at least 6.18 the mask stays 0
/// unless the dump went through a coredump socket; `WCOREDUMP(exit_code)` is the
/// reliable bit.
pub const PIDFD_INFO_COREDUMP: u64 = 1 << 4;

/// Mask bit: request / report `supported_mask`, the set of mask bits this kernel
/// knows. Works on reaped tasks too.
///
/// Linux 6.19. Older kernels never return it.
pub const PIDFD_INFO_SUPPORTED_MASK: u64 = 1 << 5;

/// Mask bit: `coredump_signal` is valid. Returned with [`PIDFD_INFO_COREDUMP`]
/// when coredump information was recorded.
///
/// Linux 6.19. Older kernels never return it.
pub const PIDFD_INFO_COREDUMP_SIGNAL: u64 = 1 << 6;

/// Mask bit: `coredump_code` (the `si_code` of the dumping signal) is valid.
/// Returned with [`PIDFD_INFO_COREDUMP`] when coredump information was recorded.
///
/// Linux 7.1. Older kernels never return it.
pub const PIDFD_INFO_COREDUMP_CODE: u64 = 1 << 7;

/// `coredump_mask` value: the task crashed and a coredump was produced.
///
/// Linux 6.16.
pub const PIDFD_COREDUMPED: u32 = 1 << 0;

/// `coredump_mask` value: generating the coredump was skipped.
///
/// Linux 6.16.
pub const PIDFD_COREDUMP_SKIP: u32 = 1 << 1;

/// `coredump_mask` value: the coredump was (or would be) written as the user.
/// A live task reports its dumpability this way.
///
/// Linux 6.16.
pub const PIDFD_COREDUMP_USER: u32 = 1 << 2;

/// `coredump_mask` value: the coredump was (or would be) written as root; treat
/// it as sensitive and give access only to privileged users.
///
/// Linux 6.16.
pub const PIDFD_COREDUMP_ROOT: u32 = 1 << 3;

/// The `PIDFD_GET_INFO` request for a buffer of `size` bytes:
/// `_IOWR(PIDFS_IOCTL_MAGIC, 11, size)`.
///
/// The kernel reads the size from the request, so it must equal the size of the
/// buffer you pass. Linux 6.13; see the [module docs](self) for errors.
///
/// # Panics
///
/// If `size` does not fit the ioctl size field (8191 bytes on powerpc, mips and
/// sparc; 16383 elsewhere).
pub const fn pidfd_get_info_cmd(size: usize) -> u32 {
    _IOWR(PIDFS_IOCTL_MAGIC, PIDFD_GET_INFO_NR, size)
}

/// `PIDFD_GET_INFO` for [`pidfd_info_v0`] (64 bytes).
///
/// Linux 6.13. This is the value of `libc::PIDFD_GET_INFO` in libc 0.2.191.
pub const PIDFD_GET_INFO_VER0: u32 = pidfd_get_info_cmd(PIDFD_INFO_SIZE_VER0);

/// `PIDFD_GET_INFO` for [`pidfd_info_v1`] (72 bytes).
///
/// Linux 6.13 accepts it (copying 64 bytes); 6.16 fills all of it.
pub const PIDFD_GET_INFO_VER1: u32 = pidfd_get_info_cmd(PIDFD_INFO_SIZE_VER1);

/// `PIDFD_GET_INFO` for [`pidfd_info_v2`] (80 bytes).
///
/// Linux 6.13 accepts it; 6.19 and 7.0 fill all of it. Do not use it on 7.1+ to
/// read `supported_mask`: there, offset 72 is `coredump_code`.
pub const PIDFD_GET_INFO_VER2: u32 = pidfd_get_info_cmd(PIDFD_INFO_SIZE_VER2);

/// `PIDFD_GET_INFO` for [`pidfd_info_v3`] (88 bytes).
///
/// Linux 6.13 accepts it; 7.1 and later fill all of it.
pub const PIDFD_GET_INFO_VER3: u32 = pidfd_get_info_cmd(PIDFD_INFO_SIZE_VER3);

/// `PIDFD_GET_INFO` for the current [`pidfd_info`] (the 7.3 uapi: 88 bytes).
///
/// Linux 6.13.
pub const PIDFD_GET_INFO: u32 = pidfd_get_info_cmd(core::mem::size_of::<pidfd_info>());

/// The current `struct pidfd_info` of the mirrored uapi (Linux 7.3): [`pidfd_info_v3`].
pub type pidfd_info = pidfd_info_v3;

/// `struct pidfd_info` as published in Linux 6.13 (64 bytes, [`PIDFD_INFO_SIZE_VER0`]).
///
/// Use with [`PIDFD_GET_INFO_VER0`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pidfd_info_v0 {
    /// In: the `PIDFD_INFO_*` bits you request. Out: the bits of the fields the
    /// kernel filled. Check it before reading any other field.
    pub mask: u64,
    /// cgroup v2 id of the task ([`PIDFD_INFO_CGROUPID`]). 1 (the root) on a
    /// cgroup-v1-only host.
    pub cgroupid: u64,
    /// PID in the caller's pid namespace, or the TID for a `PIDFD_THREAD` pidfd
    /// ([`PIDFD_INFO_PID`]).
    pub pid: u32,
    /// Thread-group id in the caller's pid namespace ([`PIDFD_INFO_PID`]).
    pub tgid: u32,
    /// Parent PID in the caller's pid namespace; 0 if the parent is not visible
    /// there ([`PIDFD_INFO_PID`]). Early 6.13/6.14 kernels answered `ESRCH` for
    /// such a task (other than pid 1) instead.
    pub ppid: u32,
    /// Real user id ([`PIDFD_INFO_CREDS`]).
    pub ruid: u32,
    /// Real group id ([`PIDFD_INFO_CREDS`]).
    pub rgid: u32,
    /// Effective user id ([`PIDFD_INFO_CREDS`]).
    pub euid: u32,
    /// Effective group id ([`PIDFD_INFO_CREDS`]).
    pub egid: u32,
    /// Saved user id ([`PIDFD_INFO_CREDS`]).
    pub suid: u32,
    /// Saved group id ([`PIDFD_INFO_CREDS`]).
    pub sgid: u32,
    /// Filesystem user id ([`PIDFD_INFO_CREDS`]).
    pub fsuid: u32,
    /// Filesystem group id ([`PIDFD_INFO_CREDS`]).
    pub fsgid: u32,
    /// Exit status in `wait()` format ([`PIDFD_INFO_EXIT`], 6.15). Named
    /// `spare0` and always 0 on 6.13 and 6.14.
    pub exit_code: i32,
}

/// `struct pidfd_info` as published in Linux 6.16 (72 bytes, [`PIDFD_INFO_SIZE_VER1`]).
///
/// Use with [`PIDFD_GET_INFO_VER1`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pidfd_info_v1 {
    /// In: requested `PIDFD_INFO_*` bits. Out: bits of the fields filled.
    pub mask: u64,
    /// cgroup v2 id ([`PIDFD_INFO_CGROUPID`]).
    pub cgroupid: u64,
    /// PID, or TID for a thread pidfd ([`PIDFD_INFO_PID`]).
    pub pid: u32,
    /// Thread-group id ([`PIDFD_INFO_PID`]).
    pub tgid: u32,
    /// Parent PID ([`PIDFD_INFO_PID`]).
    pub ppid: u32,
    /// Real user id ([`PIDFD_INFO_CREDS`]).
    pub ruid: u32,
    /// Real group id ([`PIDFD_INFO_CREDS`]).
    pub rgid: u32,
    /// Effective user id ([`PIDFD_INFO_CREDS`]).
    pub euid: u32,
    /// Effective group id ([`PIDFD_INFO_CREDS`]).
    pub egid: u32,
    /// Saved user id ([`PIDFD_INFO_CREDS`]).
    pub suid: u32,
    /// Saved group id ([`PIDFD_INFO_CREDS`]).
    pub sgid: u32,
    /// Filesystem user id ([`PIDFD_INFO_CREDS`]).
    pub fsuid: u32,
    /// Filesystem group id ([`PIDFD_INFO_CREDS`]).
    pub fsgid: u32,
    /// Exit status in `wait()` format ([`PIDFD_INFO_EXIT`]).
    pub exit_code: i32,
    /// `PIDFD_COREDUMP*` bits ([`PIDFD_INFO_COREDUMP`], 6.16).
    pub coredump_mask: u32,
    /// Reserved (6.16–6.18); became `coredump_signal` in 6.19.
    pub __spare1: u32,
}

/// `struct pidfd_info` as published in Linux 6.19 and 7.0 (80 bytes,
/// [`PIDFD_INFO_SIZE_VER2`]), with `supported_mask` at offset 72.
///
/// Use with [`PIDFD_GET_INFO_VER2`], and only on kernels whose struct is 80
/// bytes: on 7.1 and later offset 72 holds `coredump_code`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pidfd_info_v2 {
    /// In: requested `PIDFD_INFO_*` bits. Out: bits of the fields filled.
    pub mask: u64,
    /// cgroup v2 id ([`PIDFD_INFO_CGROUPID`]).
    pub cgroupid: u64,
    /// PID, or TID for a thread pidfd ([`PIDFD_INFO_PID`]).
    pub pid: u32,
    /// Thread-group id ([`PIDFD_INFO_PID`]).
    pub tgid: u32,
    /// Parent PID ([`PIDFD_INFO_PID`]).
    pub ppid: u32,
    /// Real user id ([`PIDFD_INFO_CREDS`]).
    pub ruid: u32,
    /// Real group id ([`PIDFD_INFO_CREDS`]).
    pub rgid: u32,
    /// Effective user id ([`PIDFD_INFO_CREDS`]).
    pub euid: u32,
    /// Effective group id ([`PIDFD_INFO_CREDS`]).
    pub egid: u32,
    /// Saved user id ([`PIDFD_INFO_CREDS`]).
    pub suid: u32,
    /// Saved group id ([`PIDFD_INFO_CREDS`]).
    pub sgid: u32,
    /// Filesystem user id ([`PIDFD_INFO_CREDS`]).
    pub fsuid: u32,
    /// Filesystem group id ([`PIDFD_INFO_CREDS`]).
    pub fsgid: u32,
    /// Exit status in `wait()` format ([`PIDFD_INFO_EXIT`]).
    pub exit_code: i32,
    /// `PIDFD_COREDUMP*` bits ([`PIDFD_INFO_COREDUMP`]).
    pub coredump_mask: u32,
    /// Number of the signal that caused the coredump ([`PIDFD_INFO_COREDUMP_SIGNAL`], 6.19).
    pub coredump_signal: u32,
    /// The `PIDFD_INFO_*` bits this kernel supports ([`PIDFD_INFO_SUPPORTED_MASK`],
    /// 6.19). At offset **72** in this version only.
    pub supported_mask: u64,
}

/// `struct pidfd_info` as published in Linux 7.1 and current in 7.3 (88 bytes,
/// [`PIDFD_INFO_SIZE_VER3`]), with `supported_mask` at offset 80.
///
/// Use with [`PIDFD_GET_INFO_VER3`] (= [`PIDFD_GET_INFO`]). On 6.13–7.0 the kernel
/// fills its own smaller prefix and zeroes the rest.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pidfd_info_v3 {
    /// In: requested `PIDFD_INFO_*` bits. Out: bits of the fields filled.
    pub mask: u64,
    /// cgroup v2 id ([`PIDFD_INFO_CGROUPID`]).
    pub cgroupid: u64,
    /// PID, or TID for a thread pidfd ([`PIDFD_INFO_PID`]).
    pub pid: u32,
    /// Thread-group id ([`PIDFD_INFO_PID`]).
    pub tgid: u32,
    /// Parent PID ([`PIDFD_INFO_PID`]).
    pub ppid: u32,
    /// Real user id ([`PIDFD_INFO_CREDS`]).
    pub ruid: u32,
    /// Real group id ([`PIDFD_INFO_CREDS`]).
    pub rgid: u32,
    /// Effective user id ([`PIDFD_INFO_CREDS`]).
    pub euid: u32,
    /// Effective group id ([`PIDFD_INFO_CREDS`]).
    pub egid: u32,
    /// Saved user id ([`PIDFD_INFO_CREDS`]).
    pub suid: u32,
    /// Saved group id ([`PIDFD_INFO_CREDS`]).
    pub sgid: u32,
    /// Filesystem user id ([`PIDFD_INFO_CREDS`]).
    pub fsuid: u32,
    /// Filesystem group id ([`PIDFD_INFO_CREDS`]).
    pub fsgid: u32,
    /// Exit status in `wait()` format ([`PIDFD_INFO_EXIT`]).
    pub exit_code: i32,
    /// `PIDFD_COREDUMP*` bits ([`PIDFD_INFO_COREDUMP`]).
    pub coredump_mask: u32,
    /// Number of the signal that caused the coredump ([`PIDFD_INFO_COREDUMP_SIGNAL`]).
    pub coredump_signal: u32,
    /// `si_code` of the signal that caused the coredump ([`PIDFD_INFO_COREDUMP_CODE`], 7.1).
    pub coredump_code: u32,
    /// Padding that aligns `supported_mask` to 8 bytes; always 0.
    pub coredump_pad: u32,
    /// The `PIDFD_INFO_*` bits this kernel supports ([`PIDFD_INFO_SUPPORTED_MASK`]).
    /// At offset **80**; 0 on 6.19 and 7.0, whose value sits at offset 72.
    pub supported_mask: u64,
}

// Layout proofs. The offsets of the fields the four versions share are
// identical; `supported_mask` is the one field that moved.
// Each struct carries its own size and request, so `ioctl(fd, T::GET_INFO, &mut t)`
// cannot pair a buffer with the request of another size (the kernel would write past
// the buffer, or `supported_mask` would be read from the wrong offset).

impl pidfd_info_v0 {
    /// Size of this struct, the size [`GET_INFO`](Self::GET_INFO) tells the kernel.
    pub const SIZE: usize = PIDFD_INFO_SIZE_VER0;
    /// The `PIDFD_GET_INFO` request for exactly this struct: use the pair, never
    /// a request of another size with this buffer.
    pub const GET_INFO: u32 = PIDFD_GET_INFO_VER0;
}

impl pidfd_info_v1 {
    /// Size of this struct, the size [`GET_INFO`](Self::GET_INFO) tells the kernel.
    pub const SIZE: usize = PIDFD_INFO_SIZE_VER1;
    /// The `PIDFD_GET_INFO` request for exactly this struct: use the pair, never
    /// a request of another size with this buffer.
    pub const GET_INFO: u32 = PIDFD_GET_INFO_VER1;
}

impl pidfd_info_v2 {
    /// Size of this struct, the size [`GET_INFO`](Self::GET_INFO) tells the kernel.
    pub const SIZE: usize = PIDFD_INFO_SIZE_VER2;
    /// The `PIDFD_GET_INFO` request for exactly this struct: use the pair, never
    /// a request of another size with this buffer.
    pub const GET_INFO: u32 = PIDFD_GET_INFO_VER2;
}

impl pidfd_info_v3 {
    /// Size of this struct, the size [`GET_INFO`](Self::GET_INFO) tells the kernel.
    pub const SIZE: usize = PIDFD_INFO_SIZE_VER3;
    /// The `PIDFD_GET_INFO` request for exactly this struct: use the pair, never
    /// a request of another size with this buffer.
    pub const GET_INFO: u32 = PIDFD_GET_INFO_VER3;
}

const _: () = {
    use core::mem::{offset_of, size_of};

    assert!(size_of::<pidfd_info_v0>() == PIDFD_INFO_SIZE_VER0);
    assert!(size_of::<pidfd_info_v1>() == PIDFD_INFO_SIZE_VER1);
    assert!(size_of::<pidfd_info_v2>() == PIDFD_INFO_SIZE_VER2);
    assert!(size_of::<pidfd_info_v3>() == PIDFD_INFO_SIZE_VER3);
    assert!(size_of::<pidfd_info>() == PIDFD_INFO_SIZE_VER3);
    assert!(size_of::<pidfd_info_v0>() == pidfd_info_v0::SIZE);
    assert!(size_of::<pidfd_info_v1>() == pidfd_info_v1::SIZE);
    assert!(size_of::<pidfd_info_v2>() == pidfd_info_v2::SIZE);
    assert!(size_of::<pidfd_info_v3>() == pidfd_info_v3::SIZE);
    assert!(pidfd_info_v0::GET_INFO == pidfd_get_info_cmd(size_of::<pidfd_info_v0>()));
    assert!(pidfd_info_v1::GET_INFO == pidfd_get_info_cmd(size_of::<pidfd_info_v1>()));
    assert!(pidfd_info_v2::GET_INFO == pidfd_get_info_cmd(size_of::<pidfd_info_v2>()));
    assert!(pidfd_info_v3::GET_INFO == pidfd_get_info_cmd(size_of::<pidfd_info_v3>()));

    assert!(offset_of!(pidfd_info_v0, mask) == 0);
    assert!(offset_of!(pidfd_info_v0, cgroupid) == 8);
    assert!(offset_of!(pidfd_info_v0, pid) == 16);
    assert!(offset_of!(pidfd_info_v0, tgid) == 20);
    assert!(offset_of!(pidfd_info_v0, ppid) == 24);
    assert!(offset_of!(pidfd_info_v0, ruid) == 28);
    assert!(offset_of!(pidfd_info_v0, rgid) == 32);
    assert!(offset_of!(pidfd_info_v0, euid) == 36);
    assert!(offset_of!(pidfd_info_v0, egid) == 40);
    assert!(offset_of!(pidfd_info_v0, suid) == 44);
    assert!(offset_of!(pidfd_info_v0, sgid) == 48);
    assert!(offset_of!(pidfd_info_v0, fsuid) == 52);
    assert!(offset_of!(pidfd_info_v0, fsgid) == 56);
    assert!(offset_of!(pidfd_info_v0, exit_code) == 60);

    assert!(offset_of!(pidfd_info_v1, mask) == 0);
    assert!(offset_of!(pidfd_info_v1, cgroupid) == 8);
    assert!(offset_of!(pidfd_info_v1, pid) == 16);
    assert!(offset_of!(pidfd_info_v1, tgid) == 20);
    assert!(offset_of!(pidfd_info_v1, ppid) == 24);
    assert!(offset_of!(pidfd_info_v1, ruid) == 28);
    assert!(offset_of!(pidfd_info_v1, rgid) == 32);
    assert!(offset_of!(pidfd_info_v1, euid) == 36);
    assert!(offset_of!(pidfd_info_v1, egid) == 40);
    assert!(offset_of!(pidfd_info_v1, suid) == 44);
    assert!(offset_of!(pidfd_info_v1, sgid) == 48);
    assert!(offset_of!(pidfd_info_v1, fsuid) == 52);
    assert!(offset_of!(pidfd_info_v1, fsgid) == 56);
    assert!(offset_of!(pidfd_info_v1, exit_code) == 60);
    assert!(offset_of!(pidfd_info_v1, coredump_mask) == 64);
    assert!(offset_of!(pidfd_info_v1, __spare1) == 68);

    assert!(offset_of!(pidfd_info_v2, mask) == 0);
    assert!(offset_of!(pidfd_info_v2, cgroupid) == 8);
    assert!(offset_of!(pidfd_info_v2, pid) == 16);
    assert!(offset_of!(pidfd_info_v2, tgid) == 20);
    assert!(offset_of!(pidfd_info_v2, ppid) == 24);
    assert!(offset_of!(pidfd_info_v2, ruid) == 28);
    assert!(offset_of!(pidfd_info_v2, rgid) == 32);
    assert!(offset_of!(pidfd_info_v2, euid) == 36);
    assert!(offset_of!(pidfd_info_v2, egid) == 40);
    assert!(offset_of!(pidfd_info_v2, suid) == 44);
    assert!(offset_of!(pidfd_info_v2, sgid) == 48);
    assert!(offset_of!(pidfd_info_v2, fsuid) == 52);
    assert!(offset_of!(pidfd_info_v2, fsgid) == 56);
    assert!(offset_of!(pidfd_info_v2, exit_code) == 60);
    assert!(offset_of!(pidfd_info_v2, coredump_mask) == 64);
    assert!(offset_of!(pidfd_info_v2, coredump_signal) == 68);
    assert!(offset_of!(pidfd_info_v2, supported_mask) == 72);

    assert!(offset_of!(pidfd_info_v3, mask) == 0);
    assert!(offset_of!(pidfd_info_v3, cgroupid) == 8);
    assert!(offset_of!(pidfd_info_v3, pid) == 16);
    assert!(offset_of!(pidfd_info_v3, tgid) == 20);
    assert!(offset_of!(pidfd_info_v3, ppid) == 24);
    assert!(offset_of!(pidfd_info_v3, ruid) == 28);
    assert!(offset_of!(pidfd_info_v3, rgid) == 32);
    assert!(offset_of!(pidfd_info_v3, euid) == 36);
    assert!(offset_of!(pidfd_info_v3, egid) == 40);
    assert!(offset_of!(pidfd_info_v3, suid) == 44);
    assert!(offset_of!(pidfd_info_v3, sgid) == 48);
    assert!(offset_of!(pidfd_info_v3, fsuid) == 52);
    assert!(offset_of!(pidfd_info_v3, fsgid) == 56);
    assert!(offset_of!(pidfd_info_v3, exit_code) == 60);
    assert!(offset_of!(pidfd_info_v3, coredump_mask) == 64);
    assert!(offset_of!(pidfd_info_v3, coredump_signal) == 68);
    assert!(offset_of!(pidfd_info_v3, coredump_code) == 72);
    assert!(offset_of!(pidfd_info_v3, coredump_pad) == 76);
    assert!(offset_of!(pidfd_info_v3, supported_mask) == 80);
};

// No padding in any version: the kernel copies the whole struct in (and zero-checks what it
// does not know), so every byte must be a field's.
assert_no_padding!(pidfd_info_v0 {
    mask,
    cgroupid,
    pid,
    tgid,
    ppid,
    ruid,
    rgid,
    euid,
    egid,
    suid,
    sgid,
    fsuid,
    fsgid,
    exit_code,
});
assert_no_padding!(pidfd_info_v1 {
    mask,
    cgroupid,
    pid,
    tgid,
    ppid,
    ruid,
    rgid,
    euid,
    egid,
    suid,
    sgid,
    fsuid,
    fsgid,
    exit_code,
    coredump_mask,
    __spare1,
});
assert_no_padding!(pidfd_info_v2 {
    mask,
    cgroupid,
    pid,
    tgid,
    ppid,
    ruid,
    rgid,
    euid,
    egid,
    suid,
    sgid,
    fsuid,
    fsgid,
    exit_code,
    coredump_mask,
    coredump_signal,
    supported_mask,
});
assert_no_padding!(pidfd_info_v3 {
    mask,
    cgroupid,
    pid,
    tgid,
    ppid,
    ruid,
    rgid,
    euid,
    egid,
    suid,
    sgid,
    fsuid,
    fsgid,
    exit_code,
    coredump_mask,
    coredump_signal,
    coredump_code,
    coredump_pad,
    supported_mask,
});

// `_IOWR` has the same bits on both ioctl layouts (READ|WRITE fills the top three
// bits either way), so these numbers hold on every covered architecture.
const _: () = {
    assert!(PIDFD_GET_INFO_VER0 == 0xc040_ff0b);
    assert!(PIDFD_GET_INFO_VER1 == 0xc048_ff0b);
    assert!(PIDFD_GET_INFO_VER2 == 0xc050_ff0b);
    assert!(PIDFD_GET_INFO_VER3 == 0xc058_ff0b);
    assert!(PIDFD_GET_INFO == PIDFD_GET_INFO_VER3);
};

// libc 0.2.191 defines the 64-byte struct and its request. Its encoder lacks the
// mips r6 variants, but `_IOWR` is layout-independent (see above).
#[cfg(target_os = "linux")]
// `as u32`: libc's type is `c_ulong` (u32 or u64) on glibc and `c_int` on musl.
#[allow(clippy::unnecessary_cast)]
const _: () = {
    assert!(PIDFD_GET_INFO_VER0 == libc::PIDFD_GET_INFO as u32);
    assert!(core::mem::size_of::<libc::pidfd_info>() == PIDFD_INFO_SIZE_VER0);
};
