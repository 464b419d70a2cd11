//! Every item that libc 0.2.191 also defines must have the same value here.
//!
//! libc items that are absent or wrong in 0.2.191, and therefore not compared:
//! * `CLONE_CLEAR_SIGHAND` / `CLONE_INTO_CGROUP` (glibc targets): typed `c_int`,
//!   so the values overflow to 0; deprecated upstream (libc issue #3584).
//! * `SCM_PIDFD`, `PIDFD_SELF*`, `FD_*_ROOT`, `FD_INVALID`, `PID_FS_MAGIC`,
//!   `ANON_INODE_FS_MAGIC`, `FILEID_*`, `NS_GET_ID`, `PIDFD_INFO_COREDUMP*`,
//!   `PIDFD_INFO_SUPPORTED_MASK`, `PIDFD_COREDUMP*`, the 7.1 clone flags: not in
//!   libc.
//! * `libc::pidfd_info` is the 64-byte VER0 struct and `libc::PIDFD_GET_INFO` its
//!   request; they are compared with the VER0 items.
#![cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
// The libc types behind the casts differ by target (`Ioctl` is `c_ulong` on
// glibc, `c_int` on musl), so a cast is a no-op on some targets only.
#![allow(clippy::unnecessary_cast)]

use core::mem::{offset_of, size_of};
use pidfd_sys as sys;

#[test]
fn syscall_numbers() {
    assert_eq!(sys::SYS_pidfd_send_signal, libc::SYS_pidfd_send_signal);
    assert_eq!(sys::SYS_pidfd_open, libc::SYS_pidfd_open);
    assert_eq!(sys::SYS_clone3, libc::SYS_clone3);
    assert_eq!(sys::SYS_pidfd_getfd, libc::SYS_pidfd_getfd);
    assert_eq!(sys::SYS_process_madvise, libc::SYS_process_madvise);
    #[cfg(not(all(target_env = "musl", any(target_arch = "riscv32", target_arch = "riscv64"))))]
    assert_eq!(sys::SYS_process_mrelease, libc::SYS_process_mrelease);
}

#[test]
fn pidfd_open_and_send_signal_flags() {
    assert_eq!(sys::PIDFD_NONBLOCK, libc::PIDFD_NONBLOCK);
    assert_eq!(sys::PIDFD_THREAD, libc::PIDFD_THREAD);
    assert_eq!(sys::PIDFD_NONBLOCK, libc::O_NONBLOCK as libc::c_uint);
    assert_eq!(sys::PIDFD_THREAD, libc::O_EXCL as libc::c_uint);
    assert_eq!(sys::PIDFD_SIGNAL_THREAD, libc::PIDFD_SIGNAL_THREAD);
    assert_eq!(sys::PIDFD_SIGNAL_THREAD_GROUP, libc::PIDFD_SIGNAL_THREAD_GROUP);
    assert_eq!(sys::PIDFD_SIGNAL_PROCESS_GROUP, libc::PIDFD_SIGNAL_PROCESS_GROUP);
    assert_eq!(sys::P_PIDFD, libc::P_PIDFD);
}

#[test]
fn clone_flags() {
    assert_eq!(sys::CLONE_PIDFD, libc::CLONE_PIDFD as u64);
    assert_eq!(sys::CLONE_NEWTIME, libc::CLONE_NEWTIME);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn clone_args_layout() {
    use core::mem::align_of;
    use sys::clone_args as ours;
    type Theirs = libc::clone_args;
    assert_eq!(size_of::<ours>(), size_of::<Theirs>());
    assert_eq!(align_of::<ours>(), align_of::<Theirs>());
    assert_eq!(offset_of!(ours, flags), offset_of!(Theirs, flags));
    assert_eq!(offset_of!(ours, pidfd), offset_of!(Theirs, pidfd));
    assert_eq!(offset_of!(ours, child_tid), offset_of!(Theirs, child_tid));
    assert_eq!(offset_of!(ours, parent_tid), offset_of!(Theirs, parent_tid));
    assert_eq!(offset_of!(ours, exit_signal), offset_of!(Theirs, exit_signal));
    assert_eq!(offset_of!(ours, stack), offset_of!(Theirs, stack));
    assert_eq!(offset_of!(ours, stack_size), offset_of!(Theirs, stack_size));
    assert_eq!(offset_of!(ours, tls), offset_of!(Theirs, tls));
    assert_eq!(offset_of!(ours, set_tid), offset_of!(Theirs, set_tid));
    assert_eq!(offset_of!(ours, set_tid_size), offset_of!(Theirs, set_tid_size));
    assert_eq!(offset_of!(ours, cgroup), offset_of!(Theirs, cgroup));
}

#[test]
fn pidfd_info_v0_matches_libc_pidfd_info() {
    use sys::pidfd_info_v0 as ours;
    type Theirs = libc::pidfd_info;
    assert_eq!(size_of::<ours>(), size_of::<Theirs>());
    assert_eq!(size_of::<ours>(), libc::PIDFD_INFO_SIZE_VER0 as usize);
    assert_eq!(sys::PIDFD_INFO_SIZE_VER0, libc::PIDFD_INFO_SIZE_VER0 as usize);
    assert_eq!(offset_of!(ours, mask), offset_of!(Theirs, mask));
    assert_eq!(offset_of!(ours, cgroupid), offset_of!(Theirs, cgroupid));
    assert_eq!(offset_of!(ours, pid), offset_of!(Theirs, pid));
    assert_eq!(offset_of!(ours, tgid), offset_of!(Theirs, tgid));
    assert_eq!(offset_of!(ours, ppid), offset_of!(Theirs, ppid));
    assert_eq!(offset_of!(ours, ruid), offset_of!(Theirs, ruid));
    assert_eq!(offset_of!(ours, rgid), offset_of!(Theirs, rgid));
    assert_eq!(offset_of!(ours, euid), offset_of!(Theirs, euid));
    assert_eq!(offset_of!(ours, egid), offset_of!(Theirs, egid));
    assert_eq!(offset_of!(ours, suid), offset_of!(Theirs, suid));
    assert_eq!(offset_of!(ours, sgid), offset_of!(Theirs, sgid));
    assert_eq!(offset_of!(ours, fsuid), offset_of!(Theirs, fsuid));
    assert_eq!(offset_of!(ours, fsgid), offset_of!(Theirs, fsgid));
    assert_eq!(offset_of!(ours, exit_code), offset_of!(Theirs, exit_code));
}

#[test]
fn pidfd_info_mask_bits() {
    // libc types these as `c_uint` although `mask` is a `__u64`.
    assert_eq!(sys::PIDFD_INFO_PID, u64::from(libc::PIDFD_INFO_PID));
    assert_eq!(sys::PIDFD_INFO_CREDS, u64::from(libc::PIDFD_INFO_CREDS));
    assert_eq!(sys::PIDFD_INFO_CGROUPID, u64::from(libc::PIDFD_INFO_CGROUPID));
    assert_eq!(sys::PIDFD_INFO_EXIT, u64::from(libc::PIDFD_INFO_EXIT));
}

#[test]
fn pidfs_ioctls() {
    // `libc::Ioctl` is `c_ulong` on glibc and `c_int` on musl: compare the bits.
    assert_eq!(sys::PIDFD_GET_CGROUP_NAMESPACE, libc::PIDFD_GET_CGROUP_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_IPC_NAMESPACE, libc::PIDFD_GET_IPC_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_MNT_NAMESPACE, libc::PIDFD_GET_MNT_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_NET_NAMESPACE, libc::PIDFD_GET_NET_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_PID_NAMESPACE, libc::PIDFD_GET_PID_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE, libc::PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_TIME_NAMESPACE, libc::PIDFD_GET_TIME_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE, libc::PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_USER_NAMESPACE, libc::PIDFD_GET_USER_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_UTS_NAMESPACE, libc::PIDFD_GET_UTS_NAMESPACE as u32);
    assert_eq!(sys::PIDFD_GET_INFO_VER0, libc::PIDFD_GET_INFO as u32);
}

#[test]
fn ioctl_encoders() {
    assert_eq!(sys::_IO(0xb7, 3), libc::_IO(0xb7, 3) as u32);
    assert_eq!(sys::_IOR(0xb7, 13, 8), libc::_IOR::<u64>(0xb7, 13) as u32);
    assert_eq!(sys::_IOW(0x12, 0x34, 4), libc::_IOW::<u32>(0x12, 0x34) as u32);
    assert_eq!(sys::_IOWR(0xFF, 11, 88), libc::_IOWR::<[u64; 11]>(0xFF, 11) as u32);
}

#[test]
fn nsfs_ioctls() {
    assert_eq!(sys::NS_GET_USERNS, libc::NS_GET_USERNS as u32);
    assert_eq!(sys::NS_GET_PARENT, libc::NS_GET_PARENT as u32);
    assert_eq!(sys::NS_GET_NSTYPE, libc::NS_GET_NSTYPE as u32);
    assert_eq!(sys::NS_GET_OWNER_UID, libc::NS_GET_OWNER_UID as u32);
    assert_eq!(sys::NS_GET_MNTNS_ID, libc::NS_GET_MNTNS_ID as u32);
    assert_eq!(sys::NS_GET_PID_FROM_PIDNS, libc::NS_GET_PID_FROM_PIDNS as u32);
    assert_eq!(sys::NS_GET_TGID_FROM_PIDNS, libc::NS_GET_TGID_FROM_PIDNS as u32);
    assert_eq!(sys::NS_GET_PID_IN_PIDNS, libc::NS_GET_PID_IN_PIDNS as u32);
    assert_eq!(sys::NS_GET_TGID_IN_PIDNS, libc::NS_GET_TGID_IN_PIDNS as u32);
    assert_eq!(sys::NS_MNT_GET_INFO, libc::NS_MNT_GET_INFO as u32);
    assert_eq!(sys::NS_MNT_GET_NEXT, libc::NS_MNT_GET_NEXT as u32);
    assert_eq!(sys::NS_MNT_GET_PREV, libc::NS_MNT_GET_PREV as u32);
    assert_eq!(sys::MNT_NS_INFO_SIZE_VER0, libc::MNT_NS_INFO_SIZE_VER0 as usize);
}

#[test]
fn mnt_ns_info_layout() {
    use sys::mnt_ns_info as ours;
    type Theirs = libc::mnt_ns_info;
    assert_eq!(size_of::<ours>(), size_of::<Theirs>());
    assert_eq!(offset_of!(ours, size), offset_of!(Theirs, size));
    assert_eq!(offset_of!(ours, nr_mounts), offset_of!(Theirs, nr_mounts));
    assert_eq!(offset_of!(ours, mnt_ns_id), offset_of!(Theirs, mnt_ns_id));
}

#[test]
fn socket_options() {
    assert_eq!(sys::SO_PASSPIDFD, libc::SO_PASSPIDFD);
    assert_eq!(sys::SO_PEERPIDFD, libc::SO_PEERPIDFD);
}

#[test]
fn filesystem_magics() {
    assert_eq!(sys::NSFS_MAGIC, libc::NSFS_MAGIC as u32);
    assert_eq!(sys::PROC_SUPER_MAGIC, libc::PROC_SUPER_MAGIC as u32);
}
