//! [`features()`]: every probe's answer, and the mechanism each operation uses.

use std::fmt;

use super::{Feature, Support};

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
