//! The kernel matrix's contract with every integration test binary of the workspace: which
//! features a test may expect, which a seccomp profile refuses, and how a test that needs a
//! feature skips (saying why) or fails (under the matrix, when the kernel should have it).
//! Used by this crate's unit tests, and, as `pidfd::__private::require` under the `__test-util`
//! feature, by the unit tests of `pidfd-ns` and by every crate's integration tests (through the
//! workspace's `test-support` crate). Not part of the API.

use crate::{Feature, PidFd, Support};

/// A comma-separated list from the environment, `None` when the variable is unset.
fn env_list(var: &str) -> Option<Vec<String>> {
    std::env::var(var).ok().map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
}

/// The features the kernel under test must have, if the kernel matrix said so.
pub fn expected() -> Option<Vec<String>> {
    env_list("PIDFD_TEST_EXPECT")
}

/// Whether the test runs under the kernel matrix (`PIDFD_TEST_EXPECT` set: a small VM, maybe
/// emulated, or a host row under a seccomp profile), where counts are scaled down.
pub fn under_matrix() -> bool {
    expected().is_some()
}

/// The features whose probe a seccomp profile of the kernel matrix refuses
/// (`PIDFD_TEST_DENIED`; empty for a real kernel or outside the matrix).
pub fn denied() -> Vec<String> {
    env_list("PIDFD_TEST_DENIED").unwrap_or_default()
}

/// Whether to run a test that needs `f`. Prints why it skips. Under the kernel matrix
/// (`PIDFD_TEST_EXPECT` set) it panics instead when the probe disagrees with the row: the
/// kernel should have `f` but the probe says it has not, or the probe says `f` is denied by a
/// policy and `PIDFD_TEST_DENIED` does not list it (or lists it, and the probe says otherwise).
pub fn require(f: Feature) -> bool {
    let support = f.support();
    if support == Support::Supported {
        return true;
    }
    let kernel = std::env::var("PIDFD_TEST_KERNEL").unwrap_or_default();
    let listed = denied().iter().any(|d| d == f.name());
    if let Support::Denied { .. } = support {
        if listed {
            eprintln!("skipped: {f} is denied by policy on {kernel} (PIDFD_TEST_DENIED lists {}): {support}", f.name());
            return false;
        }
        assert!(
            expected().is_none(),
            "kernel {kernel}: the probe says {} ({f}) is {support}, but PIDFD_TEST_DENIED does not list it",
            f.name()
        );
        eprintln!("skipped: {f} is denied by a security policy here (seccomp, LSM or container): {support}");
        return false;
    }
    if let Some(exp) = expected() {
        assert!(
            !exp.iter().any(|e| e == f.name()),
            "kernel {kernel} must have {} ({f}), but the probe says {support}",
            f.name()
        );
        assert!(!listed, "kernel {kernel}: {} ({f}) must be denied by policy, but the probe says {support}", f.name());
    }
    eprintln!("skipped: the running kernel lacks {f} (Linux {}+): {support}", f.since());
    false
}

/// [`require`] for every feature of `fs` (each is checked; all must be there).
pub fn require_all(fs: &[Feature]) -> bool {
    fs.iter().filter(|&&f| !require(f)).count() == 0
}

/// A pidfd of this process (`pidfd_open`), or `None` (the test skips, see [`require`]).
pub fn self_pidfd() -> Option<PidFd> {
    require(Feature::PidfdOpen).then(|| PidFd::from_self().unwrap())
}
