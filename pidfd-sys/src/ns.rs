//! nsfs ioctls and namespace file handles (`linux/nsfs.h`, `linux/exportfs.h`).
//!
//! These ioctls apply to namespace descriptors: `/proc/<pid>/ns/*` files and the
//! fds the `PIDFD_GET_*_NAMESPACE` ioctls return. Every kernel older than the
//! one that introduced an ioctl answers `ENOTTY`; an ioctl meant for another
//! namespace type gives `EINVAL`.

use crate::ioctl::{_IO, _IOR};

/// ioctl type ("magic") of every nsfs ioctl.
///
/// Linux 4.9.
pub const NSIO: u32 = 0xb7;

/// `ioctl(nsfd, NS_GET_USERNS)`: open the user namespace that owns the namespace.
///
/// Linux 4.9. `EPERM` if the owner is outside the caller's user namespace.
/// Older kernels: `ENOTTY`.
pub const NS_GET_USERNS: u32 = _IO(NSIO, 0x1);

/// `ioctl(nsfd, NS_GET_PARENT)`: open the parent of a pid or user namespace.
///
/// Linux 4.9. `EINVAL` for a non-hierarchical namespace type, `EPERM` if the
/// parent is outside the caller's namespace. Older kernels: `ENOTTY`.
pub const NS_GET_PARENT: u32 = _IO(NSIO, 0x2);

/// `ioctl(nsfd, NS_GET_NSTYPE)`: return the namespace type as its `CLONE_NEW*` value.
///
/// Linux 4.11. Older kernels: `ENOTTY`.
pub const NS_GET_NSTYPE: u32 = _IO(NSIO, 0x3);

/// `ioctl(userns_fd, NS_GET_OWNER_UID, &mut uid)`: write the owner of a user
/// namespace (a `uid_t`, mapped into the caller's user namespace).
///
/// Linux 4.11. `EINVAL` for other namespace types. Older kernels: `ENOTTY`.
pub const NS_GET_OWNER_UID: u32 = _IO(NSIO, 0x4);

/// `ioctl(mntns_fd, NS_GET_MNTNS_ID, &mut id)`: write the 64-bit id of a mount
/// namespace (`_IOR(NSIO, 5, __u64)`).
///
/// The ioctl appeared in Linux 6.11 as `_IO(NSIO, 5)`
/// ([`NS_GET_MNTNS_ID_6_11`]) and was re-declared with this number during the
/// 6.12 cycle; to support both, try this number and fall back to the old one on
/// `ENOTTY`. Older kernels: `ENOTTY`.
pub const NS_GET_MNTNS_ID: u32 = _IOR(NSIO, 0x5, 8);

/// The 6.11 number of [`NS_GET_MNTNS_ID`]: `_IO(NSIO, 5)`.
///
/// Linux 6.11 only; later kernels answer it with `ENOTTY`.
pub const NS_GET_MNTNS_ID_6_11: u32 = _IO(NSIO, 0x5);

/// `ioctl(pidns_fd, NS_GET_PID_FROM_PIDNS, pid)`: translate `pid` (a plain
/// integer argument) from the target pid namespace into the caller's, returned
/// as the ioctl result.
///
/// Linux 6.11. `ESRCH` if there is no such task or it is not visible to the
/// caller. Older kernels: `ENOTTY`.
pub const NS_GET_PID_FROM_PIDNS: u32 = _IOR(NSIO, 0x6, 4);

/// `ioctl(pidns_fd, NS_GET_TGID_FROM_PIDNS, pid)`: like [`NS_GET_PID_FROM_PIDNS`],
/// but return the thread-group id of `pid` in the caller's pid namespace.
///
/// Linux 6.11. Older kernels: `ENOTTY`.
pub const NS_GET_TGID_FROM_PIDNS: u32 = _IOR(NSIO, 0x7, 4);

/// `ioctl(pidns_fd, NS_GET_PID_IN_PIDNS, pid)`: translate `pid` from the caller's
/// pid namespace into the target one, returned as the ioctl result.
///
/// Linux 6.11. `ESRCH` if the task has no pid there. Older kernels: `ENOTTY`.
pub const NS_GET_PID_IN_PIDNS: u32 = _IOR(NSIO, 0x8, 4);

/// `ioctl(pidns_fd, NS_GET_TGID_IN_PIDNS, pid)`: like [`NS_GET_PID_IN_PIDNS`], but
/// return the thread-group id of `pid` in the target pid namespace.
///
/// Linux 6.11. Older kernels: `ENOTTY`.
pub const NS_GET_TGID_IN_PIDNS: u32 = _IOR(NSIO, 0x9, 4);

/// Information about a mount namespace, filled by [`NS_MNT_GET_INFO`],
/// [`NS_MNT_GET_NEXT`] and [`NS_MNT_GET_PREV`].
///
/// Linux 6.12.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct mnt_ns_info {
    /// Size of the struct the kernel filled ([`MNT_NS_INFO_SIZE_VER0`]).
    pub size: u32,
    /// Number of mounts in the namespace.
    pub nr_mounts: u32,
    /// 64-bit id of the mount namespace (as [`NS_GET_MNTNS_ID`] reports).
    pub mnt_ns_id: u64,
}

/// Size of the first published [`mnt_ns_info`].
///
/// Linux 6.12.
pub const MNT_NS_INFO_SIZE_VER0: usize = 16;

/// `ioctl(mntns_fd, NS_MNT_GET_INFO, &mut info)`: fill a [`mnt_ns_info`] for the
/// mount namespace.
///
/// Linux 6.12. Older kernels: `ENOTTY`.
pub const NS_MNT_GET_INFO: u32 = _IOR(NSIO, 10, MNT_NS_INFO_SIZE_VER0);

/// `ioctl(mntns_fd, NS_MNT_GET_NEXT, &mut info)`: open the mount namespace with
/// the next higher id that the caller may see, returning its fd and filling
/// `info` for it.
///
/// Linux 6.12. `ENOENT` past the last one. Older kernels: `ENOTTY`.
pub const NS_MNT_GET_NEXT: u32 = _IOR(NSIO, 11, MNT_NS_INFO_SIZE_VER0);

/// `ioctl(mntns_fd, NS_MNT_GET_PREV, &mut info)`: like [`NS_MNT_GET_NEXT`], for the
/// next lower id.
///
/// Linux 6.12. `ENOENT` before the first one. Older kernels: `ENOTTY`.
pub const NS_MNT_GET_PREV: u32 = _IOR(NSIO, 12, MNT_NS_INFO_SIZE_VER0);

/// `ioctl(nsfd, NS_GET_ID, &mut id)`: write the 64-bit id of a namespace of any
/// type (`_IOR(NSIO, 13, __u64)`); ids are never reused during a boot.
///
/// Linux 6.18. Older kernels: `ENOTTY`.
pub const NS_GET_ID: u32 = _IOR(NSIO, 13, 8);

/// `handle_type` of an nsfs file handle (`FILEID_NSFS` in `linux/exportfs.h`).
///
/// `name_to_handle_at(nsfd, "", fh, &mnt, AT_EMPTY_PATH)` returns this type with
/// an [`nsfs_file_handle`] payload; `open_by_handle_at(FD_NSFS_ROOT, fh, flags)`
/// reopens the namespace while it is still in use.
///
/// Linux 6.18. Older kernels: `name_to_handle_at` fails with `EOPNOTSUPP`.
pub const FILEID_NSFS: libc::c_int = 0xf1;

/// Payload of an nsfs file handle.
///
/// Inside `struct file_handle` the payload is only 4-byte aligned, while this
/// struct has 8-byte alignment on most ABIs: copy it out with an unaligned read.
/// Linux 6.18.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nsfs_file_handle {
    /// 64-bit namespace id (as [`NS_GET_ID`] reports).
    pub ns_id: u64,
    /// Namespace type as its `CLONE_NEW*` value; 0 when opening by id only.
    pub ns_type: u32,
    /// Namespace inode number (as `/proc/<pid>/ns/*` shows); 0 when opening by id only.
    pub ns_inum: u32,
}

/// Size of the first published [`nsfs_file_handle`].
///
/// Linux 6.18.
pub const NSFS_FILE_HANDLE_SIZE_VER0: usize = 16;

/// Inode number of the initial IPC namespace (`enum init_ns_ino`): the initial
/// namespaces have fixed inode numbers, so `/proc/1/ns/ipc` always shows this one.
///
/// Linux 6.17 (fixed since then; older kernels allocate them at boot).
pub const IPC_NS_INIT_INO: u32 = 0xEFFF_FFFF;
/// Inode number of the initial UTS namespace. Linux 6.17.
pub const UTS_NS_INIT_INO: u32 = 0xEFFF_FFFE;
/// Inode number of the initial user namespace. Linux 6.17.
pub const USER_NS_INIT_INO: u32 = 0xEFFF_FFFD;
/// Inode number of the initial PID namespace. Linux 6.17.
pub const PID_NS_INIT_INO: u32 = 0xEFFF_FFFC;
/// Inode number of the initial cgroup namespace. Linux 6.17.
pub const CGROUP_NS_INIT_INO: u32 = 0xEFFF_FFFB;
/// Inode number of the initial time namespace. Linux 6.17.
pub const TIME_NS_INIT_INO: u32 = 0xEFFF_FFFA;
/// Inode number of the initial network namespace. Linux 6.17.
pub const NET_NS_INIT_INO: u32 = 0xEFFF_FFF9;
/// Inode number of the initial mount namespace. Linux 6.17.
pub const MNT_NS_INIT_INO: u32 = 0xEFFF_FFF8;

/// 64-bit id ([`NS_GET_ID`]) of the initial IPC namespace (`enum init_ns_id`).
///
/// Linux 6.19.
pub const IPC_NS_INIT_ID: u64 = 1;
/// 64-bit id of the initial UTS namespace. Linux 6.19.
pub const UTS_NS_INIT_ID: u64 = 2;
/// 64-bit id of the initial user namespace. Linux 6.19.
pub const USER_NS_INIT_ID: u64 = 3;
/// 64-bit id of the initial PID namespace. Linux 6.19.
pub const PID_NS_INIT_ID: u64 = 4;
/// 64-bit id of the initial cgroup namespace. Linux 6.19.
pub const CGROUP_NS_INIT_ID: u64 = 5;
/// 64-bit id of the initial time namespace. Linux 6.19.
pub const TIME_NS_INIT_ID: u64 = 6;
/// 64-bit id of the initial network namespace. Linux 6.19.
pub const NET_NS_INIT_ID: u64 = 7;
/// 64-bit id of the initial mount namespace. Linux 6.19.
pub const MNT_NS_INIT_ID: u64 = 8;

/// `enum ns_type` value of time namespaces: the `CLONE_NEWTIME` bit. Used in
/// [`ns_id_req::ns_type`] to filter [`SYS_listns`](crate::SYS_listns).
///
/// Linux 6.19.
pub const TIME_NS: u32 = 1 << 7;
/// `enum ns_type` value of mount namespaces (`CLONE_NEWNS`). Linux 6.19.
pub const MNT_NS: u32 = 1 << 17;
/// `enum ns_type` value of cgroup namespaces (`CLONE_NEWCGROUP`). Linux 6.19.
pub const CGROUP_NS: u32 = 1 << 25;
/// `enum ns_type` value of UTS namespaces (`CLONE_NEWUTS`). Linux 6.19.
pub const UTS_NS: u32 = 1 << 26;
/// `enum ns_type` value of IPC namespaces (`CLONE_NEWIPC`). Linux 6.19.
pub const IPC_NS: u32 = 1 << 27;
/// `enum ns_type` value of user namespaces (`CLONE_NEWUSER`). Linux 6.19.
pub const USER_NS: u32 = 1 << 28;
/// `enum ns_type` value of PID namespaces (`CLONE_NEWPID`). Linux 6.19.
pub const PID_NS: u32 = 1 << 29;
/// `enum ns_type` value of network namespaces (`CLONE_NEWNET`). Linux 6.19.
pub const NET_NS: u32 = 1 << 30;

/// The request of [`SYS_listns`](crate::SYS_listns) (`struct ns_id_req`): list the
/// ids of the namespaces after `ns_id`, of the types in `ns_type` (0: all),
/// owned by the user namespace `user_ns_id` (0: any; [`LISTNS_CURRENT_USER`]:
/// the caller's).
///
/// Linux 6.19. Set `size` to [`NS_ID_REQ_SIZE_VER0`] and the spare fields to 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ns_id_req {
    /// Size of this struct as the caller knows it.
    pub size: u32,
    /// Reserved, must be 0.
    pub spare: u32,
    /// The last id listed so far (0 to start): the listing continues after it.
    pub ns_id: u64,
    /// Bitwise OR of `*_NS` type values to list; 0 lists every type.
    pub ns_type: u32,
    /// Reserved, must be 0.
    pub spare2: u32,
    /// Owning user namespace id to filter on; 0 for any.
    pub user_ns_id: u64,
}

/// Size of the first published [`ns_id_req`].
///
/// Linux 6.19.
pub const NS_ID_REQ_SIZE_VER0: u32 = 32;

/// [`ns_id_req::user_ns_id`] value that lists the namespaces owned by the
/// caller's own user namespace.
///
/// Linux 6.19.
pub const LISTNS_CURRENT_USER: u64 = u64::MAX;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<mnt_ns_info>() == MNT_NS_INFO_SIZE_VER0);
    assert!(offset_of!(mnt_ns_info, size) == 0);
    assert!(offset_of!(mnt_ns_info, nr_mounts) == 4);
    assert!(offset_of!(mnt_ns_info, mnt_ns_id) == 8);

    assert!(size_of::<nsfs_file_handle>() == NSFS_FILE_HANDLE_SIZE_VER0);
    assert!(offset_of!(nsfs_file_handle, ns_id) == 0);
    assert!(offset_of!(nsfs_file_handle, ns_type) == 8);
    assert!(offset_of!(nsfs_file_handle, ns_inum) == 12);

    assert!(size_of::<ns_id_req>() == NS_ID_REQ_SIZE_VER0 as usize);
    assert!(offset_of!(ns_id_req, size) == 0);
    assert!(offset_of!(ns_id_req, spare) == 4);
    assert!(offset_of!(ns_id_req, ns_id) == 8);
    assert!(offset_of!(ns_id_req, ns_type) == 16);
    assert!(offset_of!(ns_id_req, spare2) == 20);
    assert!(offset_of!(ns_id_req, user_ns_id) == 24);

    assert!(TIME_NS == crate::CLONE_NEWTIME as u32);
};

// No padding: every byte the kernel reads (or the caller reads back) is a field's.
assert_no_padding!(mnt_ns_info { size, nr_mounts, mnt_ns_id });
assert_no_padding!(nsfs_file_handle { ns_id, ns_type, ns_inum });
assert_no_padding!(ns_id_req { size, spare, ns_id, ns_type, spare2, user_ns_id });

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
    assert!(NS_GET_USERNS == 0xb701);
    assert!(NS_GET_PARENT == 0xb702);
    assert!(NS_GET_NSTYPE == 0xb703);
    assert!(NS_GET_OWNER_UID == 0xb704);
    assert!(NS_GET_MNTNS_ID == 0x8008_b705);
    assert!(NS_GET_MNTNS_ID_6_11 == 0xb705);
    assert!(NS_GET_PID_FROM_PIDNS == 0x8004_b706);
    assert!(NS_GET_TGID_FROM_PIDNS == 0x8004_b707);
    assert!(NS_GET_PID_IN_PIDNS == 0x8004_b708);
    assert!(NS_GET_TGID_IN_PIDNS == 0x8004_b709);
    assert!(NS_MNT_GET_INFO == 0x8010_b70a);
    assert!(NS_MNT_GET_NEXT == 0x8010_b70b);
    assert!(NS_MNT_GET_PREV == 0x8010_b70c);
    assert!(NS_GET_ID == 0x8008_b70d);
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
    assert!(NS_GET_USERNS == 0x2000_b701);
    assert!(NS_GET_PARENT == 0x2000_b702);
    assert!(NS_GET_NSTYPE == 0x2000_b703);
    assert!(NS_GET_OWNER_UID == 0x2000_b704);
    assert!(NS_GET_MNTNS_ID == 0x4008_b705);
    assert!(NS_GET_MNTNS_ID_6_11 == 0x2000_b705);
    assert!(NS_GET_PID_FROM_PIDNS == 0x4004_b706);
    assert!(NS_GET_TGID_FROM_PIDNS == 0x4004_b707);
    assert!(NS_GET_PID_IN_PIDNS == 0x4004_b708);
    assert!(NS_GET_TGID_IN_PIDNS == 0x4004_b709);
    assert!(NS_MNT_GET_INFO == 0x4010_b70a);
    assert!(NS_MNT_GET_NEXT == 0x4010_b70b);
    assert!(NS_MNT_GET_PREV == 0x4010_b70c);
    assert!(NS_GET_ID == 0x4008_b70d);
};

// libc's encoder lacks the mips r6 variants; compare elsewhere.
#[cfg(all(target_os = "linux", not(any(target_arch = "mips32r6", target_arch = "mips64r6"))))]
// `as u32`: libc's type is `c_ulong` (u32 or u64) on glibc and `c_int` on musl.
#[allow(clippy::unnecessary_cast)]
const _: () = {
    assert!(NS_GET_USERNS == libc::NS_GET_USERNS as u32);
    assert!(NS_GET_MNTNS_ID == libc::NS_GET_MNTNS_ID as u32);
    assert!(NS_GET_TGID_IN_PIDNS == libc::NS_GET_TGID_IN_PIDNS as u32);
    assert!(NS_MNT_GET_PREV == libc::NS_MNT_GET_PREV as u32);
    assert!(core::mem::size_of::<libc::mnt_ns_info>() == MNT_NS_INFO_SIZE_VER0);
};
