//! The probes: one per [`Feature`], each the cheapest real call that tells the feature apart,
//! with the errno an older kernel gives.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
#[cfg(target_os = "android")]
use std::sync::atomic::Ordering;

use pidfd_sys as uapi;

use super::{Feature, Support};
use crate::info::RawInfo;
use crate::sys;

/// The kernel's `supported_mask` (6.19+), cached once read (a `OnceLock`: 32-bit targets such
/// as powerpc have no 64-bit atomics).
static SUPPORTED_MASK: OnceLock<u64> = OnceLock::new();

pub(super) fn classify(r: io::Result<bool>) -> Support {
    match r {
        Ok(true) => Support::Supported,
        Ok(false) => Support::Unsupported,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            match errno {
                libc::EPERM | libc::EACCES => Support::Denied { errno },
                _ => Support::Undetermined { errno },
            }
        }
    }
}

/// `Ok(false)` when the call failed with one of `missing`, the result otherwise.
fn absent_on(r: io::Result<()>, missing: &[i32]) -> io::Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error().is_some_and(|n| missing.contains(&n)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One of the calling thread's namespaces, `/proc/thread-self/ns/<name>` (`/proc/self/ns` of a
/// thread's own view), for the nsfs probes. Without `/proc` the error (`ENOENT`) leaves the
/// answer undetermined, not cached.
fn own_ns(name: &CStr) -> io::Result<OwnedFd> {
    let dir = sys::openat(libc::AT_FDCWD, c"/proc/thread-self/ns", libc::O_DIRECTORY)?;
    sys::openat(dir.as_raw_fd(), name, 0)
}

/// A pidfd of the calling process, for probes.
fn self_pidfd() -> io::Result<OwnedFd> {
    sys::pidfd_open(sys::getpid(), 0)
}

#[cfg(target_os = "android")]
static ANDROID_PROBES_ALLOWED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// On Android before 12, seccomp kills a process that makes a pidfd system call with `SIGSYS`
/// instead of failing it. This crate therefore never probes implicitly on Android: call this
/// once you know the device allows the calls (API level 31+), or every feature reports
/// [`Support::Undetermined`] (and operations needing one fail with
/// [`Error::Undetermined`](crate::Error::Undetermined)).
///
/// # Kernel support
/// Android only; Android 12 (API level 31) and later allow the pidfd system calls.
#[cfg(target_os = "android")]
pub fn allow_probing_on_android() {
    ANDROID_PROBES_ALLOWED.store(true, Ordering::Relaxed);
}

pub(super) fn probe(feature: Feature) -> io::Result<bool> {
    #[cfg(target_os = "android")]
    if !ANDROID_PROBES_ALLOWED.load(Ordering::Relaxed) {
        return Err(io::Error::from_raw_os_error(0));
    }
    // What the probe builds on, asked first: one definitely missing makes this one missing; a
    // refusal or an undetermined answer propagates (not cached). FACTS is the one list.
    for &needed in feature.probe_needs() {
        if !needs(needed)? {
            return Ok(false);
        }
    }
    match feature {
        // nsfs ioctls on our own namespaces (`/proc/self/ns`): ENOTTY from a kernel without.
        // NS_GET_USERNS answers EPERM for a namespace owned outside our user namespace: it exists.
        Feature::NsHierarchy => match sys::ns_ioctl_fd(own_ns(c"net")?.as_raw_fd(), uapi::NS_GET_USERNS) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(true),
            r => absent_on(r.map(drop), &[libc::ENOTTY]),
        },
        Feature::NsType => {
            absent_on(sys::ns_ioctl_int(own_ns(c"net")?.as_raw_fd(), uapi::NS_GET_NSTYPE, 0).map(drop), &[libc::ENOTTY])
        }
        Feature::NsOwnerUid => absent_on(
            sys::ns_ioctl_uid(own_ns(c"user")?.as_raw_fd(), uapi::NS_GET_OWNER_UID).map(drop),
            &[libc::ENOTTY],
        ),
        // Our own thread in our own PID namespace: its pid there, or ESRCH. A kernel with the
        // ioctls answers ENOTTY only for a pid no task has (6.16 to 6.19, a fall-through into
        // the extensible ioctls' default), never for a task that exists, as this one does.
        Feature::NsPidTranslation => {
            let r = sys::ns_ioctl_int(own_ns(c"pid")?.as_raw_fd(), uapi::NS_GET_PID_IN_PIDNS, sys::gettid() as _);
            match r {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(true),
                r => absent_on(r.map(drop), &[libc::ENOTTY]),
            }
        }
        Feature::NsMountId => {
            let mnt = own_ns(c"mnt")?;
            match sys::ns_ioctl_u64(mnt.as_raw_fd(), uapi::NS_GET_MNTNS_ID) {
                Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {
                    absent_on(sys::ns_ioctl_u64(mnt.as_raw_fd(), uapi::NS_GET_MNTNS_ID_6_11).map(drop), &[libc::ENOTTY])
                }
                r => absent_on(r.map(drop), &[]),
            }
        }
        Feature::NsId => {
            absent_on(sys::ns_ioctl_u64(own_ns(c"net")?.as_raw_fd(), uapi::NS_GET_ID).map(drop), &[libc::ENOTTY])
        }
        // fd -1: EBADF proves the syscall exists without needing a pidfd.
        Feature::PidfdSendSignal => {
            absent_on(sys::pidfd_send_signal(-1, 0, None, 0), &[libc::ENOSYS]).or_else(ebadf_is_yes)
        }
        Feature::ClonePidfd => Ok(sys::clone_pidfd_probe()?.is_some()),
        Feature::PidfdOpen => absent_on(self_pidfd().map(drop), &[libc::ENOSYS]),
        // clone3(NULL, 0): EINVAL from a kernel that has it, ENOSYS otherwise.
        Feature::Clone3 => match sys::clone3_probe(None, 0) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(false),
            Err(e) => Err(e),
            Ok(()) => Ok(true),
        },
        // A child of ours, already reaped: ECHILD when P_PIDFD exists, EINVAL when it does not.
        // Its pidfd comes from clone(CLONE_PIDFD) (5.2, older than P_PIDFD), so the probe also
        // answers where a policy refuses pidfd_open (old container profiles).
        Feature::WaitidPidfd => {
            let dead = sys::reaped_child_pidfd()?;
            match sys::waitid(uapi::P_PIDFD, dead.as_raw_fd(), libc::WEXITED | libc::WNOHANG, None) {
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
                Err(e) => Err(e),
                Ok(_) => Ok(true),
            }
        }
        Feature::PidfdGetfd => absent_on(sys::pidfd_getfd(-1, 0).map(drop), &[libc::ENOSYS]).or_else(ebadf_is_yes),
        // An fd that is never open (INT_MAX): EBADF when the flag is known, EINVAL when not,
        // E2BIG when the kernel's clone_args is smaller (5.3, 5.4).
        Feature::CloneIntoCgroup => {
            let mut args = uapi::clone_args {
                flags: uapi::CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: i32::MAX as u64,
                ..Default::default()
            };
            absent_on(sys::clone3_probe(Some(&mut args), uapi::CLONE_ARGS_SIZE_VER2), &[libc::EINVAL, libc::E2BIG])
                .or_else(ebadf_is_yes)
        }
        // A reaped process has no namespaces: ESRCH from a kernel that accepts pidfds in
        // setns, EINVAL from one that does not. The pidfd comes from clone(CLONE_PIDFD).
        Feature::SetnsPidfd => {
            let dead = sys::reaped_child_pidfd()?;
            match sys::setns(dead.as_raw_fd(), libc::CLONE_NEWUTS) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
                Err(e) => Err(e),
                Ok(()) => Ok(true),
            }
        }
        Feature::PidfdNonblock => {
            absent_on(sys::pidfd_open(sys::getpid(), uapi::PIDFD_NONBLOCK).map(drop), &[libc::EINVAL])
        }
        Feature::ProcessMadvise => {
            absent_on(sys::process_madvise(-1, &[], libc::MADV_COLD).map(drop), &[libc::ENOSYS]).or_else(ebadf_is_yes)
        }
        Feature::ProcessMrelease => absent_on(sys::process_mrelease(-1), &[libc::ENOSYS]).or_else(ebadf_is_yes),
        Feature::SoPeerPidfd => {
            let (a, _b) = sys::seqpacket_pair()?;
            absent_on(sys::peer_pidfd(a.as_raw_fd()).map(drop), &[libc::ENOPROTOOPT])
        }
        Feature::Pidfs => {
            let fd = self_pidfd()?;
            match sys::fstatfs_type(fd.as_raw_fd()) {
                Ok(t) => Ok(t == u64::from(uapi::PID_FS_MAGIC)),
                // A sandbox without statfs cannot show pidfs to us either.
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Feature::PidfdThread => {
            absent_on(sys::pidfd_open(sys::gettid(), uapi::PIDFD_THREAD).map(drop), &[libc::EINVAL])
        }
        Feature::SignalScope => {
            let fd = self_pidfd()?;
            absent_on(sys::pidfd_send_signal(fd.as_raw_fd(), 0, None, uapi::PIDFD_SIGNAL_THREAD_GROUP), &[libc::EINVAL])
        }
        Feature::NamespaceIoctls => {
            let fd = self_pidfd()?;
            match sys::ioctl_new_fd(fd.as_raw_fd(), uapi::PIDFD_GET_PID_NAMESPACE) {
                Ok(_) => Ok(true),
                // The ioctl exists; this namespace type is compiled out.
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(true),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL)) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Feature::GetInfo => Ok(info_probe()?.is_some()),
        Feature::InfoCoredump => Ok(info_probe()?.is_some_and(|i| i.returned(uapi::PIDFD_INFO_COREDUMP))),
        Feature::SupportedMask => Ok(supported_mask()?.is_some()),
        Feature::CoredumpSignal => Ok(supported_mask()?.is_some_and(|m| m & uapi::PIDFD_INFO_COREDUMP_SIGNAL != 0)),
        Feature::CoredumpCode => Ok(supported_mask()?.is_some_and(|m| m & uapi::PIDFD_INFO_COREDUMP_CODE != 0)),
        Feature::InfoExit => {
            if let Some(mask) = supported_mask()? {
                return Ok(mask & uapi::PIDFD_INFO_EXIT != 0);
            }
            // 6.16 brought PIDFD_INFO_COREDUMP, after PIDFD_INFO_EXIT (6.15).
            if needs(Feature::InfoCoredump)? {
                return Ok(true);
            }
            // 6.13-6.15: only a reaped process tells.
            let dead = sys::reaped_child_pidfd()?;
            let mut raw = RawInfo::request(uapi::PIDFD_INFO_EXIT);
            match raw.fetch(dead.as_raw_fd()) {
                Ok(()) => Ok(raw.returned(uapi::PIDFD_INFO_EXIT)),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Feature::FileHandles => {
            let fd = self_pidfd()?;
            match sys::name_to_handle(fd.as_raw_fd()) {
                Ok((ty, _)) => Ok(ty == uapi::FILEID_KERNFS),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Feature::PidfsRoot => {
            let fd = self_pidfd()?;
            let (_, id) = sys::name_to_handle(fd.as_raw_fd())?;
            absent_on(
                sys::open_by_handle(uapi::FD_PIDFS_ROOT, id, libc::O_RDONLY | libc::O_CLOEXEC).map(drop),
                &[libc::EBADF],
            )
        }
        Feature::PidfdSelf => {
            absent_on(sys::pidfd_send_signal(uapi::PIDFD_SELF_THREAD, 0, None, 0), &[libc::EBADF, libc::ENOSYS])
        }
        // AUTOREAP needs exit_signal 0; INTO_CGROUP with a never-open fd makes a kernel that
        // knows both flags fail with EBADF before any process exists. Older: EINVAL.
        Feature::CloneAutoreap => {
            let mut args = uapi::clone_args {
                flags: uapi::CLONE_AUTOREAP | uapi::CLONE_INTO_CGROUP,
                exit_signal: 0,
                cgroup: i32::MAX as u64,
                ..Default::default()
            };
            absent_on(sys::clone3_probe(Some(&mut args), uapi::CLONE_ARGS_SIZE_VER2), &[libc::EINVAL])
                .or_else(ebadf_is_yes)
        }
    }
}

/// A probe that builds on another feature: `Ok(false)` only when that one is definitely
/// missing; a refusal (EPERM) or an undetermined answer propagates, so it is not cached.
fn needs(f: Feature) -> io::Result<bool> {
    match f.support() {
        Support::Supported => Ok(true),
        Support::Unsupported => Ok(false),
        Support::Denied { errno } | Support::Undetermined { errno } => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// For probes that call with a bad fd on purpose: `EBADF` proves the call exists.
fn ebadf_is_yes(e: io::Error) -> io::Result<bool> {
    if e.raw_os_error() == Some(libc::EBADF) { Ok(true) } else { Err(e) }
}

/// `PIDFD_GET_INFO` on ourselves asking for everything: `None` when the ioctl is missing
/// (`ENOTTY` before 6.11, `EINVAL` on 6.11-6.12 and from a pidfd that is not on pidfs).
/// Every caller's `needs` (FACTS) has `Pidfs`, which `probe` asked first.
fn info_probe() -> io::Result<Option<RawInfo>> {
    let fd = self_pidfd()?;
    let mut raw = RawInfo::request(
        uapi::PIDFD_INFO_PID | uapi::PIDFD_INFO_CREDS | uapi::PIDFD_INFO_COREDUMP | uapi::PIDFD_INFO_SUPPORTED_MASK,
    );
    match raw.fetch(fd.as_raw_fd()) {
        Ok(()) => Ok(Some(raw)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The kernel's `supported_mask` (6.19+), `None` on older kernels.
fn supported_mask() -> io::Result<Option<u64>> {
    if let Some(&cached) = SUPPORTED_MASK.get().filter(|_| !sys::fault::active()) {
        return Ok(Some(cached));
    }
    let mask = info_probe()?.and_then(|raw| raw.supported_mask());
    if let Some(m) = mask.filter(|_| !sys::fault::active()) {
        let _ = SUPPORTED_MASK.set(m);
    }
    Ok(mask)
}
