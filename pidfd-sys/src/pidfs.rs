//! pidfs ioctls that return namespace descriptors, and pidfs file handles
//! (`linux/pidfd.h`, `linux/exportfs.h`).
//!
//! Since Linux 6.9 pidfds live on their own filesystem, pidfs
//! ([`PID_FS_MAGIC`](crate::PID_FS_MAGIC)). The ioctls below work only on pidfs
//! descriptors; any other fd, and every kernel before 6.11, answers `ENOTTY`.
//! `PIDFD_GET_INFO` is in the [`info`](crate::info) module.

use crate::ioctl::_IO;

/// ioctl type ("magic") of every pidfs ioctl.
///
/// Linux 6.11.
pub const PIDFS_IOCTL_MAGIC: u32 = 0xFF;

/// `ioctl(pidfd, PIDFD_GET_CGROUP_NAMESPACE, 0)`: open the target's cgroup namespace.
///
/// Linux 6.11. Returns a new `O_CLOEXEC` nsfs fd. Errors: `ENOTTY` on older
/// kernels or a non-pidfs fd; `EINVAL` for a non-zero argument; `EOPNOTSUPP`
/// when the namespace type is compiled out; `EACCES` without
/// `PTRACE_MODE_READ_FSCREDS` access; `ESRCH` once the target has exited
/// (zombies included); `EREMOTE` on newer kernels for a target outside the
/// caller's pid namespace. The other `PIDFD_GET_*_NAMESPACE` ioctls behave the same.
pub const PIDFD_GET_CGROUP_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 1);

/// `ioctl(pidfd, PIDFD_GET_IPC_NAMESPACE, 0)`: open the target's IPC namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_IPC_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 2);

/// `ioctl(pidfd, PIDFD_GET_MNT_NAMESPACE, 0)`: open the target's mount namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_MNT_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 3);

/// `ioctl(pidfd, PIDFD_GET_NET_NAMESPACE, 0)`: open the target's network namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`]. On your own pidfd this
/// is the usual probe for the namespace ioctls.
pub const PIDFD_GET_NET_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 4);

/// `ioctl(pidfd, PIDFD_GET_PID_NAMESPACE, 0)`: open the target's pid namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_PID_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 5);

/// `ioctl(pidfd, PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE, 0)`: open the pid
/// namespace the target's future children will join.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 6);

/// `ioctl(pidfd, PIDFD_GET_TIME_NAMESPACE, 0)`: open the target's time namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_TIME_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 7);

/// `ioctl(pidfd, PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE, 0)`: open the time
/// namespace the target's future children will join.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 8);

/// `ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0)`: open the target's user namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_USER_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 9);

/// `ioctl(pidfd, PIDFD_GET_UTS_NAMESPACE, 0)`: open the target's UTS namespace.
///
/// Linux 6.11. Errors as [`PIDFD_GET_CGROUP_NAMESPACE`].
pub const PIDFD_GET_UTS_NAMESPACE: u32 = _IO(PIDFS_IOCTL_MAGIC, 10);

/// `handle_type` of a pidfs file handle (`FILEID_KERNFS` in `linux/exportfs.h`).
///
/// `name_to_handle_at(pidfd, "", fh, &mnt, AT_EMPTY_PATH)` returns this type and
/// an 8-byte payload ([`PIDFS_FILE_HANDLE_SIZE`]); `open_by_handle_at(mount_fd, fh,
/// flags)` with any pidfd (or, from 6.17, [`FD_PIDFS_ROOT`](crate::FD_PIDFS_ROOT))
/// as `mount_fd` reopens the process without privileges, as long as it is
/// visible in your pid namespace (`ESTALE` once it is reaped).
///
/// Linux 6.14. Older kernels: `name_to_handle_at` fails with `EOPNOTSUPP`.
pub const FILEID_KERNFS: libc::c_int = 0xfe;

/// Payload size (`handle_bytes`) of a pidfs file handle: one native-endian `u64`,
/// the pidfs inode number, which is never reused during a boot.
///
/// Inside `struct file_handle` the payload is only 4-byte aligned; read it
/// unaligned (or as bytes, like [`pidfs_file_handle::id`]). Linux 6.14. A buffer
/// that is too small gives `EOVERFLOW` with the needed size in `handle_bytes`.
pub const PIDFS_FILE_HANDLE_SIZE: usize = 8;

/// A `struct file_handle` holding a pidfs handle, for `name_to_handle_at` and
/// `open_by_handle_at`.
///
/// Before calling `name_to_handle_at`, set `handle_bytes` to
/// [`PIDFS_FILE_HANDLE_SIZE`]. Linux 6.14.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pidfs_file_handle {
    /// Size of the payload in bytes: [`PIDFS_FILE_HANDLE_SIZE`].
    pub handle_bytes: u32,
    /// Handle type: [`FILEID_KERNFS`] for pidfs.
    pub handle_type: libc::c_int,
    /// The pidfs id as native-endian bytes: `u64::from_ne_bytes(id)`.
    pub id: [u8; PIDFS_FILE_HANDLE_SIZE],
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<pidfs_file_handle>() == 8 + PIDFS_FILE_HANDLE_SIZE);
    assert!(align_of::<pidfs_file_handle>() == 4);
    assert!(offset_of!(pidfs_file_handle, handle_bytes) == 0);
    assert!(offset_of!(pidfs_file_handle, handle_type) == 4);
    assert!(offset_of!(pidfs_file_handle, id) == 8);
};

// No padding: `name_to_handle_at` / `open_by_handle_at` read every byte of it.
assert_no_padding!(pidfs_file_handle { handle_bytes, handle_type, id });

#[cfg(not(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64",
)))]
const _: () = {
    assert!(PIDFD_GET_CGROUP_NAMESPACE == 0xff01);
    assert!(PIDFD_GET_IPC_NAMESPACE == 0xff02);
    assert!(PIDFD_GET_MNT_NAMESPACE == 0xff03);
    assert!(PIDFD_GET_NET_NAMESPACE == 0xff04);
    assert!(PIDFD_GET_PID_NAMESPACE == 0xff05);
    assert!(PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE == 0xff06);
    assert!(PIDFD_GET_TIME_NAMESPACE == 0xff07);
    assert!(PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE == 0xff08);
    assert!(PIDFD_GET_USER_NAMESPACE == 0xff09);
    assert!(PIDFD_GET_UTS_NAMESPACE == 0xff0a);
};

#[cfg(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "sparc",
    target_arch = "sparc64",
))]
const _: () = {
    assert!(PIDFD_GET_CGROUP_NAMESPACE == 0x2000_ff01);
    assert!(PIDFD_GET_IPC_NAMESPACE == 0x2000_ff02);
    assert!(PIDFD_GET_MNT_NAMESPACE == 0x2000_ff03);
    assert!(PIDFD_GET_NET_NAMESPACE == 0x2000_ff04);
    assert!(PIDFD_GET_PID_NAMESPACE == 0x2000_ff05);
    assert!(PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE == 0x2000_ff06);
    assert!(PIDFD_GET_TIME_NAMESPACE == 0x2000_ff07);
    assert!(PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE == 0x2000_ff08);
    assert!(PIDFD_GET_USER_NAMESPACE == 0x2000_ff09);
    assert!(PIDFD_GET_UTS_NAMESPACE == 0x2000_ff0a);
};

// libc encodes the powerpc/mips/sparc layout only for `mips` and `mips64`, not
// for the r6 variants, so compare only where its encoder matches the kernel.
#[cfg(all(target_os = "linux", not(any(target_arch = "mips32r6", target_arch = "mips64r6"))))]
// `as u32`: libc's type is `c_ulong` (u32 or u64) on glibc and `c_int` on musl.
#[allow(clippy::unnecessary_cast)]
const _: () = {
    assert!(PIDFD_GET_CGROUP_NAMESPACE == libc::PIDFD_GET_CGROUP_NAMESPACE as u32);
    assert!(PIDFD_GET_NET_NAMESPACE == libc::PIDFD_GET_NET_NAMESPACE as u32);
    assert!(PIDFD_GET_UTS_NAMESPACE == libc::PIDFD_GET_UTS_NAMESPACE as u32);
};
