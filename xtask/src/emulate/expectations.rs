//! What the test suite must see under a profile.
//!
//! The expectation has three states (`PIDFD_TEST_EXPECT` lists what must be
//! present, `PIDFD_TEST_DENIED` what must probe `denied`, anything else must
//! probe `no`). A feature's state follows from how `pidfd::features()` probes
//! it, which [`PROBES`] restates (from `fn probe` in pidfd/src/compat.rs):
//!
//! * `denied`: the probe meets `EPERM` itself or through a feature it builds
//!   on. Directly: `pidfd_open` (`pidfd_open(getpid())`), `pidfd_send_signal`
//!   (`pidfd_send_signal(-1, 0)`), `pidfd_getfd` (`pidfd_getfd(-1)`) and
//!   `pidfd_self` (`pidfd_send_signal(PIDFD_SELF_THREAD, 0)`): the filter
//!   answers before the kernel looks at the fd. Through a pidfd of the probing
//!   process from `pidfd_open`: `pidfd_nonblock`,
//!   `pidfs`, `pidfd_thread` and `signal_scope` (which also sends through
//!   `pidfd_send_signal`); through `pidfs` (its pidfd again): `namespace_ioctls`,
//!   `get_info`, `file_handles` and every `PIDFD_GET_INFO` bit (`info_exit`,
//!   `info_coredump`, `supported_mask`, `coredump_signal`, `coredump_code`);
//!   through `file_handles`: `pidfs_root`. A probe that is refused is never
//!   cached and reports `denied` whatever the host kernel has.
//! * `no`: `clone3` (`ENOSYS` is what a kernel without it says), and what
//!   builds on it: `clone_into_cgroup`, `clone_autoreap`; also anything the
//!   host kernel lacks whose probe meets no refusal first.
//! * present: the host's answer for the probes that need none of those calls:
//!   `clone_pidfd` (a `clone(CLONE_PIDFD)` child), `waitid_pidfd` and
//!   `setns_pidfd` (the pidfd of such a child, reaped), `process_madvise` and
//!   `process_mrelease` (a bad fd), `so_peerpidfd` (a socket pair).
//!
//! The test suite skips, with the reason, a test that needs a feature listed
//! in `PIDFD_TEST_DENIED`; everything built on `pidfd::Command` (the vfork
//! `clone(CLONE_PIDFD)` path, `clone3` falling back on `ENOSYS`) and waiting
//! still runs.

use super::Profile;
use crate::matrix::config::{self, Config, Version};

/// A system call a profile may refuse, as far as the feature probes are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    PidfdOpen,
    PidfdSendSignal,
    PidfdGetfd,
    Clone3,
}

/// How `pidfd::features()` probes each feature (`fn probe` in pidfd/src/compat.rs), reduced to
/// what a seccomp profile can change: `(feature, needs, calls)`. `needs` are the features the
/// probe asks first (`needs(Feature::X)?`, also inside `info_probe`/`supported_mask`), in
/// order: one that is refused makes this one `denied`, one that is absent makes it `no`. `calls`
/// are the system calls of [`Call`] the probe then makes itself, in order. Calls no profile
/// filters (`clone` with `CLONE_PIDFD`, `ioctl`, `fstatfs`, `getsockopt`, `process_madvise` and
/// `process_mrelease` with a bad fd, `name_to_handle_at`) are left out. The kernel matrix checks
/// this table every run: a probe that comes to need another call shows up as a measured value
/// that differs from the expectation.
const PROBES: &[(&str, &[&str], &[Call])] = &[
    ("pidfd_send_signal", &[], &[Call::PidfdSendSignal]),
    ("clone_pidfd", &[], &[]),
    ("pidfd_open", &[], &[Call::PidfdOpen]),
    ("clone3", &[], &[Call::Clone3]),
    // A reaped child's pidfd from clone(CLONE_PIDFD).
    ("waitid_pidfd", &["clone_pidfd"], &[]),
    ("pidfd_getfd", &[], &[Call::PidfdGetfd]),
    ("clone_into_cgroup", &["clone3"], &[Call::Clone3]),
    // A reaped child's pidfd from clone(CLONE_PIDFD).
    ("setns_pidfd", &["clone_pidfd"], &[]),
    ("pidfd_nonblock", &["pidfd_open"], &[Call::PidfdOpen]),
    ("process_madvise", &[], &[]),
    ("process_mrelease", &[], &[]),
    ("so_peerpidfd", &[], &[]),
    ("pidfs", &["pidfd_open"], &[Call::PidfdOpen]),
    ("pidfd_thread", &["pidfd_open"], &[Call::PidfdOpen]),
    ("signal_scope", &["pidfd_open"], &[Call::PidfdOpen, Call::PidfdSendSignal]),
    ("namespace_ioctls", &["pidfs"], &[Call::PidfdOpen]),
    ("get_info", &["pidfs"], &[Call::PidfdOpen]),
    ("file_handles", &["pidfs"], &[Call::PidfdOpen]),
    ("pidfd_self", &[], &[Call::PidfdSendSignal]),
    // supported_mask() (through pidfs), then needs(GetInfo), then a reaped child's pidfd.
    ("info_exit", &["pidfs", "get_info"], &[Call::PidfdOpen]),
    ("info_coredump", &["pidfs"], &[Call::PidfdOpen]),
    ("pidfs_root", &["file_handles"], &[Call::PidfdOpen]),
    ("supported_mask", &["pidfs"], &[Call::PidfdOpen]),
    ("coredump_signal", &["pidfs"], &[Call::PidfdOpen]),
    ("coredump_code", &["pidfs"], &[Call::PidfdOpen]),
    ("clone_autoreap", &["clone_into_cgroup"], &[Call::Clone3]),
];

/// What a profile makes a probe answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The host kernel decides (present if the host has it).
    Host,
    /// `no`, whatever the host has.
    Absent,
    /// `denied` (a refusal, never cached).
    Denied,
}

/// The expected answers of `pidfd::features()` under a profile: features that must be present
/// (`PIDFD_TEST_EXPECT`) and features that must be refused (`PIDFD_TEST_DENIED`); every other
/// feature must be absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expectation {
    /// Present, in kernels.toml order.
    pub(crate) present: Vec<String>,
    /// Denied by the profile, in kernels.toml order.
    pub(crate) denied: Vec<String>,
}

/// How the container profile answers a call: refused (`EPERM`) or missing (`ENOSYS`).
fn container_answer(c: Call) -> Outcome {
    match c {
        Call::PidfdOpen | Call::PidfdSendSignal | Call::PidfdGetfd => Outcome::Denied,
        Call::Clone3 => Outcome::Absent,
    }
}

/// What the probe of `feature` answers when each [`Call`] answers as `call` says (`Host`: the
/// host kernel runs it); `host_has` is what the host kernel has. An unknown feature is `Host`
/// (and `probe_table_covers_every_feature` keeps [`PROBES`] complete).
fn probe_outcome(feature: &str, call: &dyn Fn(Call) -> Outcome, host_has: &[String]) -> Outcome {
    let Some((_, needs, calls)) = PROBES.iter().find(|(f, _, _)| *f == feature) else {
        return Outcome::Host;
    };
    for need in *needs {
        match probe_outcome(need, call, host_has) {
            Outcome::Host if host_has.iter().any(|h| h == need) => {}
            Outcome::Host | Outcome::Absent => return Outcome::Absent,
            Outcome::Denied => return Outcome::Denied,
        }
    }
    calls.iter().map(|&c| call(c)).find(|o| *o != Outcome::Host).unwrap_or(Outcome::Host)
}

impl Profile {
    /// Present and denied features under this profile on a host kernel `host`
    /// (see the module documentation). `expect_add` / `expect_remove` of a
    /// matching `[[emulation]]` entry adjust the present set.
    pub(crate) fn expectation(&self, cfg: &Config, host: Version) -> Expectation {
        let (base, denied) = match self {
            // An older kernel answers ENOSYS/EINVAL/ENOTTY, never EPERM.
            Self::Kernel(v) => (cfg.features.for_version((*v).min(host)), Vec::new()),
            Self::ContainerEperm => {
                let host_has = cfg.features.for_version(host);
                let outcome = |f: &str| probe_outcome(f, &|c| container_answer(c), &host_has);
                let names = cfg.features.names();
                let present = names.iter().filter(|f| outcome(f) == Outcome::Host && host_has.contains(f)).cloned();
                let denied = names.iter().filter(|f| outcome(f) == Outcome::Denied).cloned().collect();
                (present.collect(), denied)
            }
        };
        let entry = cfg
            .emulations
            .iter()
            .find(|e| Profile::parse(e.kernel.as_deref(), e.profile.as_deref()).is_ok_and(|p| p == *self));
        let present = match entry {
            Some(e) => config::adjust(base, &e.expect_add, &e.expect_remove),
            None => base,
        };
        Expectation { present, denied }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_table_covers_every_feature() {
        let cfg = config::load().unwrap();
        let table: Vec<&str> = PROBES.iter().map(|(f, _, _)| *f).collect();
        assert_eq!(table, cfg.features.names(), "PROBES must list kernels.toml's features, in order");
        for (f, needs, _) in PROBES {
            for n in *needs {
                assert!(table.contains(n), "{f} needs unknown feature {n}");
            }
        }
    }

    #[test]
    fn container_expectation_follows_the_probes() {
        let cfg = config::load().unwrap();
        let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // A host with every feature: what pidfd::features() measured under the profile on 6.18.
        let e = Profile::ContainerEperm.expectation(&cfg, Version(7, 3));
        assert_eq!(
            e.present,
            strs(&[
                "clone_pidfd",
                "waitid_pidfd",
                "setns_pidfd",
                "process_madvise",
                "process_mrelease",
                "so_peerpidfd"
            ])
        );
        let absent = ["clone3", "clone_into_cgroup", "clone_autoreap"];
        let denied: Vec<String> = cfg
            .features
            .names()
            .into_iter()
            .filter(|f| !e.present.contains(f) && !absent.contains(&f.as_str()))
            .collect();
        assert_eq!(e.denied, denied);
        assert!(e.denied.contains(&"pidfd_self".to_owned()) && e.denied.contains(&"pidfs_root".to_owned()));
        // A refused probe is refused whatever the host has; a host without SO_PEERPIDFD lacks it.
        let old = Profile::ContainerEperm.expectation(&cfg, Version(5, 10));
        assert_eq!(old.present, strs(&["clone_pidfd", "waitid_pidfd", "setns_pidfd", "process_madvise"]));
        assert_eq!(old.denied, e.denied);
        // Older kernels answer ENOSYS/EINVAL/ENOTTY: nothing is denied.
        let k = Profile::Kernel(Version(5, 4)).expectation(&cfg, Version(6, 18));
        assert!(k.denied.is_empty());
        assert_eq!(k.present, cfg.features.for_version(Version(5, 4)));
        // The host's own answers decide where no call is refused.
        let host = |_: Call| Outcome::Host;
        let h612 = cfg.features.for_version(Version(6, 12));
        assert_eq!(probe_outcome("info_exit", &host, &h612), Outcome::Absent);
        assert_eq!(probe_outcome("namespace_ioctls", &host, &h612), Outcome::Host);
    }
}
