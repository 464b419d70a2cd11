//! Kernel capabilities: one probe per [`Feature`], run lazily, once, cached in an atomic.
//!
//! A probe makes the cheapest real call that tells the feature apart on every kernel and
//! documents the errno an older kernel gives. Only definite answers are cached: a refusal by a
//! security policy (`EPERM`, `EACCES`) or a resource error (`EMFILE`, `ENOMEM`, ...) is reported
//! as [`Support::Denied`] / [`Support::Undetermined`] and probed again next time. The kernel
//! version is never read.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use pidfd_sys as uapi;

use crate::info::RawInfo;
use crate::sys;

/// A kernel capability that some operation of this workspace uses.
///
/// Each variant knows the first mainline kernel that has it ([`Feature::since`]); that version
/// is for messages only: support is always probed.
///
/// # Kernel support
/// Each variant's documentation says which kernel brings it and what an older kernel answers.
/// Probing works on any kernel: [`Feature::support`] runs the probe once and caches a definite
/// answer; an operation whose feature is missing and has no fallback fails with
/// [`Error::Unsupported`](crate::Error::Unsupported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Feature {
    /// `pidfd_send_signal(2)` (5.1). Missing: `ENOSYS`.
    PidfdSendSignal,
    /// `clone(CLONE_PIDFD)` returns a pidfd (5.2). Missing: the flag is silently ignored.
    ClonePidfd,
    /// `pidfd_open(2)` (5.3). Missing: `ENOSYS`.
    PidfdOpen,
    /// `clone3(2)` (5.3). Missing or filtered by a container: `ENOSYS`.
    Clone3,
    /// `waitid(P_PIDFD)` (5.4). Missing: `EINVAL`.
    WaitidPidfd,
    /// `pidfd_getfd(2)` (5.6). Missing: `ENOSYS`.
    PidfdGetfd,
    /// `clone3(CLONE_INTO_CGROUP)` (5.7). Missing: `EINVAL` or `E2BIG`.
    CloneIntoCgroup,
    /// `setns(pidfd, CLONE_NEW*)` (5.8). Missing: `EINVAL`.
    SetnsPidfd,
    /// `PIDFD_NONBLOCK` for `pidfd_open` (5.10). Missing: `EINVAL`.
    PidfdNonblock,
    /// `process_madvise(2)` (5.10). Missing: `ENOSYS`.
    ProcessMadvise,
    /// `process_mrelease(2)` (5.15). Missing: `ENOSYS`.
    ProcessMrelease,
    /// `SO_PEERPIDFD`, `SO_PASSPIDFD`, `SCM_PIDFD` (6.5). Missing: `ENOPROTOOPT`.
    SoPeerPidfd,
    /// pidfds live on their own filesystem, pidfs, with a unique inode per process (6.9).
    /// Missing: they are anonymous inodes that all share one inode number.
    Pidfs,
    /// `PIDFD_THREAD`: pidfds for single threads (6.9). Missing: `EINVAL`.
    PidfdThread,
    /// `PIDFD_SIGNAL_THREAD`, `_THREAD_GROUP`, `_PROCESS_GROUP` (6.9). Missing: `EINVAL`.
    SignalScope,
    /// `PIDFD_GET_*_NAMESPACE` ioctls (6.11). Missing: `ENOTTY`.
    NamespaceIoctls,
    /// `PIDFD_GET_INFO` ioctl (6.13). Missing: `ENOTTY` before 6.11, `EINVAL` on 6.11-6.12.
    GetInfo,
    /// pidfs file handles: `name_to_handle_at` / `open_by_handle_at` on pidfds (6.14).
    /// Missing: `EOPNOTSUPP`.
    FileHandles,
    /// The `PIDFD_SELF_*` fd sentinels (6.15). Missing: `EBADF`.
    PidfdSelf,
    /// `PIDFD_INFO_EXIT`: exit status of any reaped process (6.15). Missing: `ESRCH` after the reap.
    InfoExit,
    /// `PIDFD_INFO_COREDUMP` (6.16). Missing: the mask bit does not come back.
    InfoCoredump,
    /// `FD_PIDFS_ROOT` as the mount fd of `open_by_handle_at` (6.17). Missing: `EBADF`.
    PidfsRoot,
    /// `PIDFD_INFO_SUPPORTED_MASK` (6.19). Missing: the mask bit does not come back.
    SupportedMask,
    /// `PIDFD_INFO_COREDUMP_SIGNAL` (6.19). Missing: absent from the supported mask.
    CoredumpSignal,
    /// `PIDFD_INFO_COREDUMP_CODE` (7.1). Missing: absent from the supported mask.
    CoredumpCode,
    /// `clone3(CLONE_AUTOREAP)` (7.1). Missing: `EINVAL`.
    CloneAutoreap,
}

impl Feature {
    /// Every feature, in kernel order.
    ///
    /// # Kernel support
    /// Any kernel (a constant).
    pub const ALL: [Feature; 26] = [
        Feature::PidfdSendSignal,
        Feature::ClonePidfd,
        Feature::PidfdOpen,
        Feature::Clone3,
        Feature::WaitidPidfd,
        Feature::PidfdGetfd,
        Feature::CloneIntoCgroup,
        Feature::SetnsPidfd,
        Feature::PidfdNonblock,
        Feature::ProcessMadvise,
        Feature::ProcessMrelease,
        Feature::SoPeerPidfd,
        Feature::Pidfs,
        Feature::PidfdThread,
        Feature::SignalScope,
        Feature::NamespaceIoctls,
        Feature::GetInfo,
        Feature::FileHandles,
        Feature::PidfdSelf,
        Feature::InfoExit,
        Feature::InfoCoredump,
        Feature::PidfsRoot,
        Feature::SupportedMask,
        Feature::CoredumpSignal,
        Feature::CoredumpCode,
        Feature::CloneAutoreap,
    ];

    /// A stable machine-readable name (`snake_case`), as used by the kernel matrix.
    ///
    /// # Kernel support
    /// Any kernel (a constant; nothing is probed).
    ///
    /// # Errors
    /// None.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::PidfdSendSignal => "pidfd_send_signal",
            Feature::ClonePidfd => "clone_pidfd",
            Feature::PidfdOpen => "pidfd_open",
            Feature::Clone3 => "clone3",
            Feature::WaitidPidfd => "waitid_pidfd",
            Feature::PidfdGetfd => "pidfd_getfd",
            Feature::CloneIntoCgroup => "clone_into_cgroup",
            Feature::SetnsPidfd => "setns_pidfd",
            Feature::PidfdNonblock => "pidfd_nonblock",
            Feature::ProcessMadvise => "process_madvise",
            Feature::ProcessMrelease => "process_mrelease",
            Feature::SoPeerPidfd => "so_peerpidfd",
            Feature::Pidfs => "pidfs",
            Feature::PidfdThread => "pidfd_thread",
            Feature::SignalScope => "signal_scope",
            Feature::NamespaceIoctls => "namespace_ioctls",
            Feature::GetInfo => "get_info",
            Feature::FileHandles => "file_handles",
            Feature::PidfdSelf => "pidfd_self",
            Feature::InfoExit => "info_exit",
            Feature::InfoCoredump => "info_coredump",
            Feature::PidfsRoot => "pidfs_root",
            Feature::SupportedMask => "supported_mask",
            Feature::CoredumpSignal => "coredump_signal",
            Feature::CoredumpCode => "coredump_code",
            Feature::CloneAutoreap => "clone_autoreap",
        }
    }

    /// The first mainline Linux release that has the feature (for messages; distributions
    /// backport, so never compare it with the running kernel's version).
    ///
    /// # Kernel support
    /// Any kernel (a constant; nothing is probed).
    ///
    /// # Errors
    /// None.
    pub const fn since(self) -> &'static str {
        match self {
            Feature::PidfdSendSignal => "5.1",
            Feature::ClonePidfd => "5.2",
            Feature::PidfdOpen | Feature::Clone3 => "5.3",
            Feature::WaitidPidfd => "5.4",
            Feature::PidfdGetfd => "5.6",
            Feature::CloneIntoCgroup => "5.7",
            Feature::SetnsPidfd => "5.8",
            Feature::PidfdNonblock | Feature::ProcessMadvise => "5.10",
            Feature::ProcessMrelease => "5.15",
            Feature::SoPeerPidfd => "6.5",
            Feature::Pidfs | Feature::PidfdThread | Feature::SignalScope => "6.9",
            Feature::NamespaceIoctls => "6.11",
            Feature::GetInfo => "6.13",
            Feature::FileHandles => "6.14",
            Feature::PidfdSelf | Feature::InfoExit => "6.15",
            Feature::InfoCoredump => "6.16",
            Feature::PidfsRoot => "6.17",
            Feature::SupportedMask | Feature::CoredumpSignal => "6.19",
            Feature::CoredumpCode | Feature::CloneAutoreap => "7.1",
        }
    }

    /// Looks a feature up by its [`name`](Feature::name); `None` for an unknown name.
    ///
    /// # Kernel support
    /// Any kernel (nothing is probed).
    ///
    /// # Errors
    /// None.
    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the running kernel has the feature (and no policy refuses it). `false` also
    /// when the probe was refused or could not decide: [`Feature::support`] tells those apart.
    ///
    /// # Kernel support
    /// Any kernel: this is the probe. The first call runs it; definite answers are cached.
    ///
    /// # Errors
    /// None: a refused or inconclusive probe reads as `false` (and is probed again next time).
    pub fn is_supported(self) -> bool {
        self.support() == Support::Supported
    }

    /// The probe's full answer. See [`Support`].
    ///
    /// # Kernel support
    /// Any kernel: this is the probe. Only [`Support::Supported`] and [`Support::Unsupported`]
    /// are cached; a refusal or an inconclusive errno is probed again on the next call. On
    /// Android nothing is probed until `pidfd::allow_probing_on_android()` is called (a
    /// function of Android builds only).
    ///
    /// # Errors
    /// None: a failed probe is an answer ([`Support::Denied`], [`Support::Undetermined`]).
    pub fn support(self) -> Support {
        if sys::fault::check(sys::Call::Feature(self)).is_err() {
            return Support::Unsupported;
        }
        let slot = &CACHE[self as usize];
        let use_cache = !sys::fault::active();
        if use_cache {
            match slot.load(Ordering::Relaxed) {
                YES => return Support::Supported,
                NO => return Support::Unsupported,
                _ => {}
            }
        }
        let answer = classify(probe(self));
        if use_cache && let Some(state) = cached_state(answer) {
            slot.store(state, Ordering::Relaxed);
        }
        answer
    }

    /// `Ok(())` if supported, else the error an operation needing it reports.
    pub(crate) fn require(self) -> crate::Result<()> {
        match self.support() {
            Support::Supported => Ok(()),
            Support::Unsupported => Err(crate::Error::Unsupported { feature: self }),
            Support::Denied { errno } => {
                Err(crate::Error::Denied { feature: self, source: io::Error::from_raw_os_error(errno) })
            }
            Support::Undetermined { errno } => {
                Err(crate::Error::Undetermined { feature: self, source: io::Error::from_raw_os_error(errno) })
            }
        }
    }
}

/// The kernel interface's name, e.g. `PIDFD_GET_INFO ioctl`.
///
/// # Kernel support
/// Any kernel.
///
/// # Errors
/// None.
impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Feature::PidfdSendSignal => "pidfd_send_signal()",
            Feature::ClonePidfd => "clone(CLONE_PIDFD)",
            Feature::PidfdOpen => "pidfd_open()",
            Feature::Clone3 => "clone3()",
            Feature::WaitidPidfd => "waitid(P_PIDFD)",
            Feature::PidfdGetfd => "pidfd_getfd()",
            Feature::CloneIntoCgroup => "clone3(CLONE_INTO_CGROUP)",
            Feature::SetnsPidfd => "setns() on a pidfd",
            Feature::PidfdNonblock => "PIDFD_NONBLOCK",
            Feature::ProcessMadvise => "process_madvise()",
            Feature::ProcessMrelease => "process_mrelease()",
            Feature::SoPeerPidfd => "SO_PEERPIDFD/SCM_PIDFD",
            Feature::Pidfs => "pidfs",
            Feature::PidfdThread => "PIDFD_THREAD",
            Feature::SignalScope => "PIDFD_SIGNAL_* scopes",
            Feature::NamespaceIoctls => "PIDFD_GET_*_NAMESPACE ioctls",
            Feature::GetInfo => "PIDFD_GET_INFO ioctl",
            Feature::FileHandles => "pidfs file handles",
            Feature::PidfdSelf => "PIDFD_SELF_* sentinels",
            Feature::InfoExit => "PIDFD_INFO_EXIT",
            Feature::InfoCoredump => "PIDFD_INFO_COREDUMP",
            Feature::PidfsRoot => "FD_PIDFS_ROOT",
            Feature::SupportedMask => "PIDFD_INFO_SUPPORTED_MASK",
            Feature::CoredumpSignal => "PIDFD_INFO_COREDUMP_SIGNAL",
            Feature::CoredumpCode => "PIDFD_INFO_COREDUMP_CODE",
            Feature::CloneAutoreap => "clone3(CLONE_AUTOREAP)",
        };
        f.write_str(what)
    }
}

/// A probe's answer.
///
/// # Kernel support
/// Any kernel (what [`Feature::support`] returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Support {
    /// The kernel has it. Cached.
    Supported,
    /// The kernel lacks it (the probe met the errno an older kernel gives). Cached.
    Unsupported,
    /// A security policy refused the probe (`EPERM`/`EACCES`). Not cached.
    Denied {
        /// The refusal's errno.
        errno: i32,
    },
    /// The probe could not tell (`EMFILE`, `ENOMEM`, an unexpected errno). Not cached.
    Undetermined {
        /// The errno the probe met.
        errno: i32,
    },
}

/// `yes`, `no`, `denied (<errno>)` or `unknown (<errno>)`.
///
/// # Kernel support
/// Any kernel.
///
/// # Errors
/// None.
impl fmt::Display for Support {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Support::Supported => f.write_str("yes"),
            Support::Unsupported => f.write_str("no"),
            Support::Denied { errno } => write!(f, "denied ({})", io::Error::from_raw_os_error(*errno)),
            Support::Undetermined { errno } => write!(f, "unknown ({})", io::Error::from_raw_os_error(*errno)),
        }
    }
}

/// Which answers are cached: only definite ones. A refusal or an inconclusive errno is probed
/// again next time (seccomp answers EPERM; a full fd table answers EMFILE).
pub(crate) fn cached_state(s: Support) -> Option<u8> {
    match s {
        Support::Supported => Some(YES),
        Support::Unsupported => Some(NO),
        Support::Denied { .. } | Support::Undetermined { .. } => None,
    }
}

const YES: u8 = 1;
const NO: u8 = 2;

static CACHE: [AtomicU8; Feature::ALL.len()] = [const { AtomicU8::new(0) }; Feature::ALL.len()];

/// The kernel's `supported_mask` (6.19+), cached once read (a `OnceLock`: 32-bit targets such
/// as powerpc have no 64-bit atomics).
static SUPPORTED_MASK: OnceLock<u64> = OnceLock::new();

fn classify(r: io::Result<bool>) -> Support {
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
///
/// # Errors
/// None.
#[cfg(target_os = "android")]
pub fn allow_probing_on_android() {
    ANDROID_PROBES_ALLOWED.store(true, Ordering::Relaxed);
}

fn probe(feature: Feature) -> io::Result<bool> {
    #[cfg(target_os = "android")]
    if !ANDROID_PROBES_ALLOWED.load(Ordering::Relaxed) {
        return Err(io::Error::from_raw_os_error(0));
    }
    match feature {
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
            if !needs(Feature::ClonePidfd)? {
                return Ok(false);
            }
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
            if !needs(Feature::Clone3)? {
                return Ok(false);
            }
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
            if !needs(Feature::ClonePidfd)? {
                return Ok(false);
            }
            let dead = sys::reaped_child_pidfd()?;
            match sys::setns(dead.as_raw_fd(), libc::CLONE_NEWUTS) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
                Err(e) => Err(e),
                Ok(()) => Ok(true),
            }
        }
        Feature::PidfdNonblock => {
            if !needs(Feature::PidfdOpen)? {
                return Ok(false);
            }
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
            if !needs(Feature::PidfdOpen)? {
                return Ok(false);
            }
            let fd = self_pidfd()?;
            match sys::fstatfs_type(fd.as_raw_fd()) {
                Ok(t) => Ok(t == u64::from(uapi::PID_FS_MAGIC)),
                // A sandbox without statfs cannot show pidfs to us either.
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Feature::PidfdThread => {
            if !needs(Feature::PidfdOpen)? {
                return Ok(false);
            }
            absent_on(sys::pidfd_open(sys::gettid(), uapi::PIDFD_THREAD).map(drop), &[libc::EINVAL])
        }
        Feature::SignalScope => {
            if !needs(Feature::PidfdOpen)? {
                return Ok(false);
            }
            let fd = self_pidfd()?;
            absent_on(sys::pidfd_send_signal(fd.as_raw_fd(), 0, None, uapi::PIDFD_SIGNAL_THREAD_GROUP), &[libc::EINVAL])
        }
        Feature::NamespaceIoctls => {
            if !needs(Feature::Pidfs)? {
                return Ok(false);
            }
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
            if !needs(Feature::GetInfo)? {
                return Ok(false);
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
            if !needs(Feature::Pidfs)? {
                return Ok(false);
            }
            let fd = self_pidfd()?;
            match sys::name_to_handle(fd.as_raw_fd()) {
                Ok((ty, _)) => Ok(ty == uapi::FILEID_KERNFS),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Feature::PidfsRoot => {
            if !needs(Feature::FileHandles)? {
                return Ok(false);
            }
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
            if !needs(Feature::CloneIntoCgroup)? {
                return Ok(false);
            }
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
fn info_probe() -> io::Result<Option<RawInfo>> {
    if !needs(Feature::Pidfs)? {
        return Ok(None);
    }
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
    if let Some(&cached) = SUPPORTED_MASK.get()
        && !sys::fault::active()
    {
        return Ok(Some(cached));
    }
    let mask = info_probe()?.and_then(|raw| raw.supported_mask());
    if let Some(m) = mask
        && !sys::fault::active()
    {
        let _ = SUPPORTED_MASK.set(m);
    }
    Ok(mask)
}

/// How each operation will be carried out on the running kernel, and what the kernel supports.
///
/// `Display` prints a table; [`FeatureReport::kmatrix_lines`] prints the kernel matrix's
/// machine-readable form.
///
/// # Kernel support
/// Any kernel: a snapshot of the probes' answers taken by [`features()`].
#[derive(Clone, Debug)]
pub struct FeatureReport {
    features: Vec<(Feature, Support)>,
}

/// Probes every [`Feature`] (each at most once per process) and reports them, with the
/// mechanism each operation uses, `pidfd::Command`'s creation path among them.
///
/// # Kernel support
/// Any kernel.
///
/// # Errors
/// None: a refused or inconclusive probe shows as such in the report.
///
/// # Example
/// ```
/// let report = pidfd::features();
/// println!("{report}");
/// assert!(report.support(pidfd::Feature::PidfdOpen).is_some());
/// ```
pub fn features() -> FeatureReport {
    FeatureReport { features: Feature::ALL.iter().map(|&f| (f, f.support())).collect() }
}

impl FeatureReport {
    /// Every feature with the probe's answer.
    ///
    /// # Kernel support
    /// Any kernel (reads the snapshot).
    ///
    /// # Errors
    /// None.
    pub fn iter(&self) -> impl Iterator<Item = (Feature, Support)> + '_ {
        self.features.iter().copied()
    }

    /// The answer for one feature (`None` only for a feature the report does not list).
    ///
    /// # Kernel support
    /// Any kernel (reads the snapshot).
    ///
    /// # Errors
    /// None.
    pub fn support(&self, feature: Feature) -> Option<Support> {
        self.features.iter().find(|(f, _)| *f == feature).map(|&(_, s)| s)
    }

    /// Each operation and the mechanism it uses on this kernel (the best one, or the fallback),
    /// including which creation path [`Command`](crate::Command) takes: the vfork clone, clone3
    /// into a cgroup, or a fork whose child sends its own pidfd.
    ///
    /// # Kernel support
    /// Any kernel (reads the snapshot).
    ///
    /// # Errors
    /// None.
    pub fn operations(&self) -> Vec<(&'static str, &'static str)> {
        let has = |f| self.support(f) == Some(Support::Supported);
        let [spawn, spawn_credentials, spawn_cgroup] = crate::method::described(&|f| self.support(f));
        vec![
            ("pid", if has(Feature::GetInfo) { "PIDFD_GET_INFO" } else { "/proc/self/fdinfo Pid: line" }),
            (
                "ppid, credentials",
                if has(Feature::GetInfo) { "PIDFD_GET_INFO" } else { "/proc/<pid>/status, then pidfd re-check" },
            ),
            (
                "cgroup id",
                if has(Feature::GetInfo) { "PIDFD_GET_INFO" } else { "/proc/<pid>/cgroup + stat, then pidfd re-check" },
            ),
            (
                "unique id",
                if has(Feature::Pidfs) && cfg!(target_pointer_width = "64") {
                    "fstat st_ino on pidfs"
                } else if has(Feature::FileHandles) {
                    "pidfs file handle"
                } else {
                    "unsupported"
                },
            ),
            (
                "reopen by id",
                if has(Feature::PidfsRoot) {
                    "open_by_handle_at(FD_PIDFS_ROOT)"
                } else if has(Feature::FileHandles) {
                    "open_by_handle_at(own pidfd)"
                } else {
                    "unsupported"
                },
            ),
            ("wait", if has(Feature::WaitidPidfd) { "waitid(P_PIDFD)" } else { "waitid(P_PID) after pidfd check" }),
            ("exit status of any process", if has(Feature::InfoExit) { "PIDFD_INFO_EXIT" } else { "unsupported" }),
            (
                "scoped signals",
                if has(Feature::SignalScope) { "PIDFD_SIGNAL_*" } else { "tgkill/killpg after liveness check" },
            ),
            ("non-blocking pidfd", if has(Feature::PidfdNonblock) { "PIDFD_NONBLOCK" } else { "WNOHANG" }),
            (
                "stop/continue wait, non-blocking fd",
                if has(Feature::FileHandles) {
                    "waitid on a blocking reopen (pidfs file handle)"
                } else {
                    "waitid(WNOHANG) with backoff (<= 10 ms)"
                },
            ),
            ("spawn (pidfd::spawn)", "fork; the child sends its own pidfd"),
            ("spawn (pidfd::Command)", spawn),
            ("spawn with uid, gid or groups", spawn_credentials),
            ("spawn into a cgroup", spawn_cgroup),
        ]
    }

    /// Lines `KMATRIX-FEATURE <name> <yes|no|denied|unknown>`, one per feature.
    ///
    /// # Kernel support
    /// Any kernel (reads the snapshot).
    ///
    /// # Errors
    /// None.
    pub fn kmatrix_lines(&self) -> String {
        let mut out = String::new();
        for (f, s) in self.iter() {
            let word = match s {
                Support::Supported => "yes",
                Support::Unsupported => "no",
                Support::Denied { .. } => "denied",
                Support::Undetermined { .. } => "unknown",
            };
            out.push_str(&format!("KMATRIX-FEATURE {} {}\n", f.name(), word));
        }
        out
    }
}

/// The features and the operations, as two tables.
///
/// # Kernel support
/// Any kernel.
///
/// # Errors
/// None.
impl fmt::Display for FeatureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<20} {:<32} {:>6}  supported", "feature", "", "since")?;
        for (feat, s) in self.iter() {
            writeln!(f, "{:<20} {:<32} {:>6}  {}", feat.name(), feat.to_string(), feat.since(), s)?;
        }
        writeln!(f)?;
        writeln!(f, "{:<36} mechanism on this kernel", "operation")?;
        for (op, how) in self.operations() {
            writeln!(f, "{op:<36} {how}")?;
        }
        Ok(())
    }
}
