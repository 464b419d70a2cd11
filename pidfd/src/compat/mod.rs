//! Kernel capabilities: one probe per [`Feature`], run lazily, once, cached in an atomic.
//!
//! A probe makes the cheapest real call that tells the feature apart on every kernel and
//! documents the errno an older kernel gives. Only definite answers are cached: a refusal by a
//! security policy (`EPERM`, `EACCES`) or a resource error (`EMFILE`, `ENOMEM`, ...) is reported
//! as [`Support::Denied`] / [`Support::Undetermined`] and probed again next time. The kernel
//! version is never read.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::sys;

mod probe;
mod report;

#[cfg(target_os = "android")]
pub use probe::allow_probing_on_android;
use probe::{classify, probe};
pub use report::{FeatureReport, features};

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
    /// The nsfs ioctls `NS_GET_USERNS` and `NS_GET_PARENT`: a namespace's owning user namespace
    /// and a PID or user namespace's parent (4.9). Missing: `ENOTTY`.
    NsHierarchy,
    /// The nsfs ioctl `NS_GET_NSTYPE`: a namespace fd's type (4.11). Missing: `ENOTTY`.
    NsType,
    /// The nsfs ioctl `NS_GET_OWNER_UID`: the owner of a user namespace (4.11). Missing: `ENOTTY`.
    NsOwnerUid,
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
    /// The nsfs ioctls `NS_GET_{PID,TGID}_{FROM,IN}_PIDNS`: pid translation between PID
    /// namespaces (6.11). Missing: `ENOTTY`.
    NsPidTranslation,
    /// The nsfs ioctl `NS_GET_MNTNS_ID`: the 64-bit id of a mount namespace (6.11, renumbered
    /// in 6.12; both numbers count). Missing: `ENOTTY`.
    NsMountId,
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
    /// The nsfs ioctl `NS_GET_ID`: the 64-bit id of any namespace (6.18). Missing: `ENOTTY`.
    NsId,
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
    /// [`Feature::probe_needs`]: the features `probe` asks first, in order, before the
    /// feature's own call (this list is where `probe` reads them).
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
/// `--facts`). `probe` asks each row's `needs` itself; `calls` says what `probe` calls, which a
/// test checks through the fault seam.
const FACTS: [Facts; 32] = [
    Facts {
        feature: Feature::NsHierarchy,
        name: "ns_hierarchy",
        since: "4.9",
        display: "NS_GET_USERNS/NS_GET_PARENT",
        needs: &[],
        calls: &[],
    },
    Facts {
        feature: Feature::NsType,
        name: "ns_type",
        since: "4.11",
        display: "NS_GET_NSTYPE",
        needs: &[],
        calls: &[],
    },
    Facts {
        feature: Feature::NsOwnerUid,
        name: "ns_owner_uid",
        since: "4.11",
        display: "NS_GET_OWNER_UID",
        needs: &[],
        calls: &[],
    },
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
    Facts {
        feature: Feature::NsPidTranslation,
        name: "ns_pid_translation",
        since: "6.11",
        display: "NS_GET_{PID,TGID}_{FROM,IN}_PIDNS",
        needs: &[],
        calls: &[],
    },
    Facts {
        feature: Feature::NsMountId,
        name: "ns_mount_id",
        since: "6.11",
        display: "NS_GET_MNTNS_ID",
        needs: &[],
        calls: &[],
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
    // Its `needs(InfoCoredump)` is a shortcut to `true`, not a need.
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
    Facts { feature: Feature::NsId, name: "ns_id", since: "6.18", display: "NS_GET_ID", needs: &[], calls: &[] },
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
    pub const ALL: [Feature; 32] = {
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

#[cfg(test)]
mod tests;
