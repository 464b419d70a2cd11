//! What the test suite must see under a profile.
//!
//! The expectation has three states (`PIDFD_TEST_EXPECT` lists what must be
//! present, `PIDFD_TEST_DENIED` what must probe `denied`, anything else must
//! probe `no`). A feature's state follows from how `pidfd::features()` probes
//! it: which features the probe asks first and which pidfd system calls it then
//! makes, as pidfd/src/compat/mod.rs's feature table declares them (`needs`,
//! `calls`) and the `features` example prints them (`--facts`, read into
//! [`Features`]). For the profiles of today:
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
//!   `process_mrelease` (a bad fd), `so_peerpidfd` (a socket pair), and the nsfs
//!   ioctls (`ns_*`: our own `/proc/thread-self/ns` files).
//!
//! The test suite skips, with the reason, a test that needs a feature listed
//! in `PIDFD_TEST_DENIED`; everything built on `pidfd::Command` (the vfork
//! `clone(CLONE_PIDFD)` path, `clone3` falling back on `ENOSYS`) and waiting
//! still runs.

use super::Profile;
use crate::matrix::config::{self, Config, Features, Version};

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
    /// Present, in feature table order.
    pub(crate) present: Vec<String>,
    /// Denied by the profile, in feature table order.
    pub(crate) denied: Vec<String>,
}

/// How the container profile answers a call a probe makes (a name from a feature's `calls`):
/// refused (`EPERM`), missing (`ENOSYS`), or the host's (`process_madvise`, `process_mrelease`).
fn container_answer(call: &str) -> Outcome {
    match call {
        "pidfd_open" | "pidfd_send_signal" | "pidfd_getfd" => Outcome::Denied,
        "clone3" => Outcome::Absent,
        _ => Outcome::Host,
    }
}

/// What the probe of `feature` answers when each call answers as `call` says (`Host`: the host
/// kernel runs it); `host_has` is what the host kernel has. Its `needs` come first, in order:
/// one that is refused makes it `denied`, one that is absent `no`; then its `calls`. An
/// unknown feature is `Host`.
fn probe_outcome(features: &Features, feature: &str, call: &dyn Fn(&str) -> Outcome, host_has: &[String]) -> Outcome {
    let Some(fact) = features.get(feature) else {
        return Outcome::Host;
    };
    for need in &fact.needs {
        match probe_outcome(features, need, call, host_has) {
            Outcome::Host if host_has.contains(need) => {}
            Outcome::Host | Outcome::Absent => return Outcome::Absent,
            Outcome::Denied => return Outcome::Denied,
        }
    }
    fact.calls.iter().map(|c| call(c)).find(|o| *o != Outcome::Host).unwrap_or(Outcome::Host)
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
                let outcome = |f: &str| probe_outcome(&cfg.features, f, &container_answer, &host_has);
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

    /// The system calls a feature's `calls` may name, all of which the profiles here model. A
    /// probe that comes to make another pidfd system call fails this test until
    /// `container_answer` (and the filter rules, if they refuse it) are taught it.
    const CALLS: [&str; 6] =
        ["pidfd_open", "pidfd_send_signal", "pidfd_getfd", "clone3", "process_madvise", "process_mrelease"];

    #[test]
    fn facts_name_only_known_calls() {
        let cfg = config::load().unwrap();
        for f in &cfg.features.0 {
            for c in &f.calls {
                assert!(CALLS.contains(&c.as_str()), "{} calls {c}, which no profile here models", f.name);
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
                "ns_hierarchy",
                "ns_type",
                "ns_owner_uid",
                "clone_pidfd",
                "waitid_pidfd",
                "setns_pidfd",
                "process_madvise",
                "process_mrelease",
                "so_peerpidfd",
                "ns_pid_translation",
                "ns_mount_id",
                "ns_id"
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
        assert_eq!(
            old.present,
            strs(&[
                "ns_hierarchy",
                "ns_type",
                "ns_owner_uid",
                "clone_pidfd",
                "waitid_pidfd",
                "setns_pidfd",
                "process_madvise"
            ])
        );
        assert_eq!(old.denied, e.denied);
        // Older kernels answer ENOSYS/EINVAL/ENOTTY: nothing is denied.
        let k = Profile::Kernel(Version(5, 4)).expectation(&cfg, Version(6, 18));
        assert!(k.denied.is_empty());
        assert_eq!(k.present, cfg.features.for_version(Version(5, 4)));
        // The host's own answers decide where no call is refused.
        let host = |_: &str| Outcome::Host;
        let h612 = cfg.features.for_version(Version(6, 12));
        assert_eq!(probe_outcome(&cfg.features, "info_exit", &host, &h612), Outcome::Absent);
        assert_eq!(probe_outcome(&cfg.features, "namespace_ioctls", &host, &h612), Outcome::Host);
    }
}
