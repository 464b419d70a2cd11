//! Raw Linux uapi for process file descriptors (pidfds): system call numbers,
//! flags, ioctl request numbers and the kernel's structs, with no logic.
//!
//! This crate mirrors the uapi headers of **Linux 7.3**. Every item says which
//! kernel release introduced it and what older kernels answer, because a pidfd
//! library has to probe and fall back at run time: distribution kernels
//! backport features, and seccomp filters hide them, so never decide by the
//! kernel's version string.
//!
//! Names and shapes follow the kernel headers (`SYS_pidfd_open`, `_IOWR`,
//! `struct pidfd_info`). Types are chosen for the call sites:
//!
//! * system call numbers are `libc::c_long`, as `libc::syscall` takes them;
//! * ioctl request numbers are `u32`; cast them at the call site, since
//!   `libc::ioctl` takes a `c_ulong` on glibc and a `c_int` on musl;
//! * 64-bit flag words (`clone_args.flags`, `pidfd_info.mask`) are `u64`;
//! * file descriptors, socket options and `unshare` flags are `libc::c_int`, and
//!   `pidfd_open` / `pidfd_send_signal` flags are `libc::c_uint`.
//!
//! Values that differ by architecture (syscall offsets on x32 and mips, ioctl
//! encoding on powerpc, mips and sparc, `O_NONBLOCK` / `O_EXCL`, socket option
//! numbers on sparc) are selected with `cfg` for every Linux target Rust
//! supports. Compile-time assertions prove struct sizes and field offsets, pin
//! the ioctl numbers on both encodings, and check agreement with `libc` where
//! `libc` has the same item.
//!
//! # Modules
//!
//! Everything is re-exported at the crate root; the modules group it:
//!
//! * [`syscalls`]: `SYS_pidfd_open`, `SYS_pidfd_send_signal`, `SYS_clone3`,
//!   `SYS_pidfd_getfd`, `SYS_process_madvise`, `SYS_process_mrelease`, `SYS_listns`.
//! * [`flags`]: `PIDFD_NONBLOCK`, `PIDFD_THREAD`, `PIDFD_SIGNAL_*`, `P_PIDFD`.
//! * [`fd`]: sentinel descriptors such as `PIDFD_SELF` and `FD_PIDFS_ROOT`.
//! * [`clone`]: `struct clone_args` and the pidfd-era `CLONE_*` flags.
//! * [`ioctl`]: the `_IOC` encoders and per-arch field layout.
//! * [`pidfs`]: `PIDFD_GET_*_NAMESPACE` ioctls and pidfs file handles.
//! * [`info`]: `PIDFD_GET_INFO` and the four sizes of `struct pidfd_info`; each
//!   struct carries its `SIZE` and its `GET_INFO` request, so a buffer is never
//!   paired with the request of another size.
//! * [`ns`]: nsfs ioctls (`NS_GET_*`, `NS_MNT_GET_*`), nsfs file handles, the
//!   initial namespaces' fixed inode numbers and ids, and `struct ns_id_req`.
//! * [`socket`]: `SO_PASSPIDFD`, `SO_PEERPIDFD`, `SCM_PIDFD`.
//! * [`magic`]: `fstatfs` magic numbers (`PID_FS_MAGIC`, …).
//!
//! The classic `CLONE_NEW*` namespace flags, `SIGCHLD`, `waitid` and friends
//! are in `libc` and are not repeated here.
//!
//! No features; Rust 1.85 or later; Linux and Android only (one `compile_error!` elsewhere).
#![no_std]
#![forbid(unsafe_code)]
// Keep the kernel's spelling of every name.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

/// Proves at compile time that the struct `$t` has no padding: the sizes of its fields (all
/// listed, which the exhaustive pattern checks) add up to its size. Every byte the kernel reads
/// from such a struct is a field's, so a struct literal hands it no uninitialised byte.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(unused_macros))]
macro_rules! assert_no_padding {
    ($t:ident { $($f:ident),+ $(,)? }) => {
        const _: () = {
            const fn size_of_field<T, F>(_: fn(&T) -> &F) -> usize {
                core::mem::size_of::<F>()
            }
            let fields = 0 $(+ size_of_field(|s: &$t| &s.$f))+;
            assert!(fields == core::mem::size_of::<$t>(), concat!(stringify!($t), " has padding"));
            let _every_field_listed = |v: $t| {
                let $t { $($f: _),+ } = v;
            };
        };
    };
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!("pidfd-sys supports Linux (and Android) only: the pidfd uapi is Linux's");

/// Everything of the crate is compiled on Linux and Android only: elsewhere, the one error above
/// instead of an error for every missing system call and constant.
macro_rules! linux_only {
    ($($item:item)*) => { $(#[cfg(any(target_os = "linux", target_os = "android"))] $item)* };
}

linux_only! {
    pub mod clone;
    pub mod fd;
    pub mod flags;
    pub mod info;
    pub mod ioctl;
    pub mod magic;
    pub mod ns;
    pub mod pidfs;
    pub mod socket;
    pub mod syscalls;

    pub use clone::*;
    pub use fd::*;
    pub use flags::*;
    pub use info::*;
    pub use ioctl::*;
    pub use magic::*;
    pub use ns::*;
    pub use pidfs::*;
    pub use socket::*;
    pub use syscalls::*;
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// The field that moved must be read through the type whose size was
    /// passed: the two versions disagree about bytes 72..80.
    #[test]
    fn supported_mask_offsets_differ_between_v2_and_v3() {
        assert_eq!(offset_of!(pidfd_info_v2, supported_mask), 72);
        assert_eq!(offset_of!(pidfd_info_v3, supported_mask), 80);
        assert_eq!(offset_of!(pidfd_info_v3, coredump_code), 72);
    }

    #[test]
    fn get_info_cmd_encodes_the_size() {
        for size in [PIDFD_INFO_SIZE_VER0, PIDFD_INFO_SIZE_VER1, PIDFD_INFO_SIZE_VER2, PIDFD_INFO_SIZE_VER3] {
            let cmd = pidfd_get_info_cmd(size);
            assert_eq!((cmd >> _IOC_SIZESHIFT) & _IOC_SIZEMASK, size as u32);
            assert_eq!((cmd >> _IOC_TYPESHIFT) & _IOC_TYPEMASK, PIDFS_IOCTL_MAGIC);
            assert_eq!((cmd >> _IOC_NRSHIFT) & _IOC_NRMASK, 11);
            assert_eq!((cmd >> _IOC_DIRSHIFT) & _IOC_DIRMASK, _IOC_READ | _IOC_WRITE);
        }
        assert_eq!(PIDFD_GET_INFO, pidfd_get_info_cmd(size_of::<pidfd_info>()));
    }

    #[test]
    #[should_panic(expected = "ioctl argument size out of range")]
    fn oversized_ioctl_argument_panics() {
        let too_big = core::hint::black_box(_IOC_SIZEMASK as usize + 1);
        pidfd_get_info_cmd(too_big);
    }

    #[test]
    fn sentinels_are_in_the_reserved_range() {
        for fd in [
            PIDFD_SELF_THREAD,
            PIDFD_SELF_THREAD_GROUP,
            PIDFD_SELF_THREAD_GROUP_6_15,
            FD_PIDFS_ROOT,
            FD_NSFS_ROOT,
            FD_FAILFS_ROOT,
            FD_INVALID,
        ] {
            assert!((-40000..=-10000).contains(&fd), "{fd}");
        }
        assert_eq!(FD_INVALID, -10000 - libc::EBADF);
        assert_eq!(PIDFD_SELF, PIDFD_SELF_THREAD);
        assert_eq!(PIDFD_SELF_PROCESS, PIDFD_SELF_THREAD_GROUP);
    }

    #[test]
    fn info_mask_bits_are_distinct() {
        let bits = [
            PIDFD_INFO_PID,
            PIDFD_INFO_CREDS,
            PIDFD_INFO_CGROUPID,
            PIDFD_INFO_EXIT,
            PIDFD_INFO_COREDUMP,
            PIDFD_INFO_SUPPORTED_MASK,
            PIDFD_INFO_COREDUMP_SIGNAL,
            PIDFD_INFO_COREDUMP_CODE,
        ];
        let all = bits.iter().fold(0, |acc, bit| {
            assert_eq!(acc & bit, 0);
            acc | bit
        });
        assert_eq!(all, 0xff);
    }

    #[test]
    fn new_clone3_flags_do_not_overlap_the_clone_word() {
        let flags = [
            CLONE_CLEAR_SIGHAND,
            CLONE_INTO_CGROUP,
            CLONE_AUTOREAP,
            CLONE_NNP,
            CLONE_PIDFD_AUTOKILL,
            CLONE_EMPTY_MNTNS,
        ];
        for (i, flag) in flags.iter().enumerate() {
            assert_eq!(*flag, 1 << (32 + i));
        }
    }
}
