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

/// What is known of a feature without probing it: one row of [`FACTS`].
struct Facts {
    /// The row's feature (the table is in `Feature` order).
    feature: Feature,
    /// [`Feature::name`].
    name: &'static str,
    /// [`Feature::since`].
    since: &'static str,
    /// `Display`.
    display: &'static str,
    /// [`Feature::probe_needs`]: the features `probe` asks first (`needs(Feature::X)?`, also
    /// inside `info_probe` and `supported_mask`), in order.
    needs: &'static [Feature],
    /// [`Feature::probe_calls`]: the pidfd system calls (`pidfd_open`, `pidfd_send_signal`,
    /// `pidfd_getfd`, `clone3`, `process_madvise`, `process_mrelease`) `probe` then makes
    /// itself, in order. Other calls (`clone` with `CLONE_PIDFD`, `waitid`, `setns`, `ioctl`,
    /// `fstatfs`, `getsockopt`, `name_to_handle_at`, `open_by_handle_at`) are left out, and so
    /// is `reaped_child_pidfd`'s `pidfd_open` fallback for a kernel without `CLONE_PIDFD`.
    calls: &'static [&'static str],
}

/// Every feature's facts, declared once, in `Feature` order (`Feature::ALL`, `name`, `since`
/// and `Display` read it; the `features` example prints it for the kernel matrix with
/// `--facts`). `needs` and `calls` restate `fn probe`: change them together.
const FACTS: [Facts; 26] = [
    Facts {
        feature: Feature::PidfdSendSignal,
        name: "pidfd_send_signal",
        since: "5.1",
        display: "pidfd_send_signal()",
        needs: &[],
        calls: &["pidfd_send_signal"],
    },
    Facts {
        feature: Feature::ClonePidfd,
        name: "clone_pidfd",
        since: "5.2",
        display: "clone(CLONE_PIDFD)",
        needs: &[],
        calls: &[],
    },
    Facts {
        feature: Feature::PidfdOpen,
        name: "pidfd_open",
        since: "5.3",
        display: "pidfd_open()",
        needs: &[],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::Clone3,
        name: "clone3",
        since: "5.3",
        display: "clone3()",
        needs: &[],
        calls: &["clone3"],
    },
    // A reaped child's pidfd from clone(CLONE_PIDFD).
    Facts {
        feature: Feature::WaitidPidfd,
        name: "waitid_pidfd",
        since: "5.4",
        display: "waitid(P_PIDFD)",
        needs: &[Feature::ClonePidfd],
        calls: &[],
    },
    Facts {
        feature: Feature::PidfdGetfd,
        name: "pidfd_getfd",
        since: "5.6",
        display: "pidfd_getfd()",
        needs: &[],
        calls: &["pidfd_getfd"],
    },
    Facts {
        feature: Feature::CloneIntoCgroup,
        name: "clone_into_cgroup",
        since: "5.7",
        display: "clone3(CLONE_INTO_CGROUP)",
        needs: &[Feature::Clone3],
        calls: &["clone3"],
    },
    // A reaped child's pidfd from clone(CLONE_PIDFD).
    Facts {
        feature: Feature::SetnsPidfd,
        name: "setns_pidfd",
        since: "5.8",
        display: "setns() on a pidfd",
        needs: &[Feature::ClonePidfd],
        calls: &[],
    },
    Facts {
        feature: Feature::PidfdNonblock,
        name: "pidfd_nonblock",
        since: "5.10",
        display: "PIDFD_NONBLOCK",
        needs: &[Feature::PidfdOpen],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::ProcessMadvise,
        name: "process_madvise",
        since: "5.10",
        display: "process_madvise()",
        needs: &[],
        calls: &["process_madvise"],
    },
    Facts {
        feature: Feature::ProcessMrelease,
        name: "process_mrelease",
        since: "5.15",
        display: "process_mrelease()",
        needs: &[],
        calls: &["process_mrelease"],
    },
    Facts {
        feature: Feature::SoPeerPidfd,
        name: "so_peerpidfd",
        since: "6.5",
        display: "SO_PEERPIDFD/SCM_PIDFD",
        needs: &[],
        calls: &[],
    },
    Facts {
        feature: Feature::Pidfs,
        name: "pidfs",
        since: "6.9",
        display: "pidfs",
        needs: &[Feature::PidfdOpen],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::PidfdThread,
        name: "pidfd_thread",
        since: "6.9",
        display: "PIDFD_THREAD",
        needs: &[Feature::PidfdOpen],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::SignalScope,
        name: "signal_scope",
        since: "6.9",
        display: "PIDFD_SIGNAL_* scopes",
        needs: &[Feature::PidfdOpen],
        calls: &["pidfd_open", "pidfd_send_signal"],
    },
    Facts {
        feature: Feature::NamespaceIoctls,
        name: "namespace_ioctls",
        since: "6.11",
        display: "PIDFD_GET_*_NAMESPACE ioctls",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    // `info_probe`.
    Facts {
        feature: Feature::GetInfo,
        name: "get_info",
        since: "6.13",
        display: "PIDFD_GET_INFO ioctl",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::FileHandles,
        name: "file_handles",
        since: "6.14",
        display: "pidfs file handles",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::PidfdSelf,
        name: "pidfd_self",
        since: "6.15",
        display: "PIDFD_SELF_* sentinels",
        needs: &[],
        calls: &["pidfd_send_signal"],
    },
    // `supported_mask` (through pidfs), then `needs(GetInfo)`, then a reaped child's pidfd. Its
    // `needs(InfoCoredump)` is a shortcut to `true`, not a need.
    Facts {
        feature: Feature::InfoExit,
        name: "info_exit",
        since: "6.15",
        display: "PIDFD_INFO_EXIT",
        needs: &[Feature::Pidfs, Feature::GetInfo],
        calls: &["pidfd_open"],
    },
    // `info_probe`.
    Facts {
        feature: Feature::InfoCoredump,
        name: "info_coredump",
        since: "6.16",
        display: "PIDFD_INFO_COREDUMP",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::PidfsRoot,
        name: "pidfs_root",
        since: "6.17",
        display: "FD_PIDFS_ROOT",
        needs: &[Feature::FileHandles],
        calls: &["pidfd_open"],
    },
    // `supported_mask` (`info_probe`).
    Facts {
        feature: Feature::SupportedMask,
        name: "supported_mask",
        since: "6.19",
        display: "PIDFD_INFO_SUPPORTED_MASK",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    // `supported_mask` (`info_probe`).
    Facts {
        feature: Feature::CoredumpSignal,
        name: "coredump_signal",
        since: "6.19",
        display: "PIDFD_INFO_COREDUMP_SIGNAL",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    // `supported_mask` (`info_probe`).
    Facts {
        feature: Feature::CoredumpCode,
        name: "coredump_code",
        since: "7.1",
        display: "PIDFD_INFO_COREDUMP_CODE",
        needs: &[Feature::Pidfs],
        calls: &["pidfd_open"],
    },
    Facts {
        feature: Feature::CloneAutoreap,
        name: "clone_autoreap",
        since: "7.1",
        display: "clone3(CLONE_AUTOREAP)",
        needs: &[Feature::CloneIntoCgroup],
        calls: &["clone3"],
    },
];

impl Feature {
    /// Every feature, in kernel order.
    pub const ALL: [Feature; 26] = {
        let mut all = [Feature::PidfdSendSignal; FACTS.len()];
        let mut i = 0;
        while i < FACTS.len() {
            all[i] = FACTS[i].feature;
            i += 1;
        }
        all
    };

    /// A stable machine-readable name (`snake_case`), as used by the kernel matrix.
    pub const fn name(self) -> &'static str {
        FACTS[self as usize].name
    }

    /// The first mainline Linux release that has the feature (for messages; distributions
    /// backport, so never compare it with the running kernel's version).
    pub const fn since(self) -> &'static str {
        FACTS[self as usize].since
    }

    /// The features this feature's probe asks first: one that is missing makes this one
    /// missing, one that a policy refuses makes this one [`Support::Denied`]. For the kernel
    /// matrix (the `features` example prints it); not a stable interface.
    #[doc(hidden)]
    pub const fn probe_needs(self) -> &'static [Feature] {
        FACTS[self as usize].needs
    }

    /// The pidfd system calls this feature's probe makes itself (of `pidfd_open`,
    /// `pidfd_send_signal`, `pidfd_getfd`, `clone3`, `process_madvise`, `process_mrelease`), by
    /// name, in order. For the kernel matrix (the `features` example prints it); not a stable
    /// interface.
    #[doc(hidden)]
    pub const fn probe_calls(self) -> &'static [&'static str] {
        FACTS[self as usize].calls
    }

    /// Looks a feature up by its [`name`](Feature::name); `None` for an unknown name.
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
        if let (true, Some(state)) = (use_cache, cached_state(answer)) {
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
impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FACTS[*self as usize].display)
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
    if let Some(&cached) = SUPPORTED_MASK.get().filter(|_| !sys::fault::active()) {
        return Ok(Some(cached));
    }
    let mask = info_probe()?.and_then(|raw| raw.supported_mask());
    if let Some(m) = mask.filter(|_| !sys::fault::active()) {
        let _ = SUPPORTED_MASK.set(m);
    }
    Ok(mask)
}

/// How each operation will be carried out on the running kernel, and what the kernel supports.
///
/// `Display` prints a table; the `features` example prints the kernel matrix's
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
/// It cannot fail: a refused or inconclusive probe shows as such in the report.
///
/// # Kernel support
/// Any kernel: each feature's probe ([`Feature::support`]), run at most once per process.
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
    pub fn iter(&self) -> impl Iterator<Item = (Feature, Support)> + '_ {
        self.features.iter().copied()
    }

    /// The answer for one feature (`None` only for a feature the report does not list).
    pub fn support(&self, feature: Feature) -> Option<Support> {
        self.features.iter().find(|(f, _)| *f == feature).map(|&(_, s)| s)
    }

    /// Each operation and the mechanism it uses on this kernel (the best one, or the fallback),
    /// including which creation path [`Command`](crate::Command) takes: the vfork clone, clone3
    /// into a cgroup, or a fork whose child sends its own pidfd.
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
}

/// The features and the operations, as two tables.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Row `i` of the table is the feature whose discriminant is `i`, so the accessors that index
    /// it by `self as usize` read their own row, and `ALL` lists the rows in order.
    #[test]
    fn the_facts_table_is_in_feature_order() {
        assert_eq!(FACTS.len(), Feature::ALL.len());
        for (i, row) in FACTS.iter().enumerate() {
            assert_eq!(row.feature as usize, i, "row {i} is {:?}", row.feature);
            assert_eq!(Feature::ALL[i], row.feature);
            assert_eq!(row.feature.name(), row.name);
            assert_eq!(row.feature.since(), row.since);
            assert_eq!(row.feature.to_string(), row.display);
            assert_eq!(Feature::from_name(row.name), Some(row.feature));
        }
    }

    /// Names are unique `snake_case`, versions `major.minor`; a probe needs only features that
    /// come before it (no cycles) and calls only pidfd system calls.
    #[test]
    fn the_facts_table_is_well_formed() {
        const CALLS: [&str; 6] =
            ["pidfd_open", "pidfd_send_signal", "pidfd_getfd", "clone3", "process_madvise", "process_mrelease"];
        for (i, row) in FACTS.iter().enumerate() {
            assert!(
                row.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                row.name
            );
            assert!(FACTS[..i].iter().all(|r| r.name != row.name && r.display != row.display), "{} twice", row.name);
            let (major, minor) = row.since.split_once('.').unwrap();
            assert!(major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok(), "{}: {}", row.name, row.since);
            for n in row.needs {
                assert!((*n as usize) < i, "{} needs {}, which comes after it", row.name, n.name());
            }
            for c in row.calls {
                assert!(CALLS.contains(c), "{} calls {c}, not a pidfd system call", row.name);
            }
            assert_eq!(row.feature.probe_needs(), row.needs);
            assert_eq!(row.feature.probe_calls(), row.calls);
        }
        // Kernel order: a feature's first kernel is never older than its predecessor's.
        let v = |s: &str| s.split_once('.').map(|(a, b)| (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()));
        assert!(FACTS.windows(2).all(|w| v(w[0].since) <= v(w[1].since)));
    }
}
