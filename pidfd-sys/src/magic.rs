//! Filesystem magic numbers for recognising pidfds and namespace fds with
//! `fstatfs` (`linux/magic.h`).
//!
//! `statfs::f_type` is a `c_long` on most glibc targets and a `c_uint` on
//! s390x; every magic here is below `2^31`, so compare `f_type as u32` with
//! these constants.

/// `f_type` of pidfs, the filesystem of pidfds from Linux 6.9.
///
/// Older kernels report [`ANON_INODE_FS_MAGIC`] for a pidfd, and every pidfd
/// there shares one inode.
pub const PID_FS_MAGIC: u32 = 0x5049_4446;

/// `f_type` of the anonymous-inode filesystem, where pidfds lived before Linux 6.9.
pub const ANON_INODE_FS_MAGIC: u32 = 0x0904_1934;

/// `f_type` of nsfs, the filesystem of namespace fds (`/proc/<pid>/ns/*` and the
/// fds the `PIDFD_GET_*_NAMESPACE` ioctls return).
///
/// Linux 3.19 (namespace files were on procfs before).
pub const NSFS_MAGIC: u32 = 0x6e73_6673;

/// `f_type` of procfs, for checking that `/proc` really is procfs (and that a
/// `/proc/<pid>` dirfd is not a pidfd).
pub const PROC_SUPER_MAGIC: u32 = 0x9fa0;

#[cfg(any(target_os = "linux", target_os = "android"))]
// libc types these `c_long`, or `c_uint` on s390x.
#[allow(clippy::unnecessary_cast)]
const _: () = {
    assert!(NSFS_MAGIC == libc::NSFS_MAGIC as u32);
    assert!(PROC_SUPER_MAGIC == libc::PROC_SUPER_MAGIC as u32);
};
