//! Probes.

use std::process::Command;

use super::{iterations, require_all, self_pidfd, without};
use crate::sys::{Call, fault};
use crate::{Error, Feature, PidFd, Support};

/// A refusal of the probe a feature builds on is reported as a refusal by the dependents, and
/// an inconclusive probe as `Error::Undetermined`, never as "denied" or "unsupported".
#[test]
fn dependent_probes_propagate_refusals_and_inconclusive_answers() {
    let Some(me) = self_pidfd() else { return };
    let dependents = [
        Feature::PidfdNonblock,
        Feature::Pidfs,
        Feature::PidfdThread,
        Feature::SignalScope,
        Feature::GetInfo,
        Feature::FileHandles,
    ];
    let clone_probed = [Feature::WaitidPidfd, Feature::SetnsPidfd].map(|f| (f, f.support()));
    assert!(clone_probed.iter().all(|(_, s)| matches!(s, Support::Supported | Support::Unsupported)));
    {
        let _g = fault::inject(Call::PidfdOpen, libc::EPERM);
        for f in dependents {
            assert_eq!(f.support(), Support::Denied { errno: libc::EPERM }, "{f:?}");
        }
        assert!(matches!(me.info(), Err(Error::Denied { feature: Feature::GetInfo, .. })));
        // These two probe a reaped child's pidfd from clone(CLONE_PIDFD): a policy that
        // refuses pidfd_open (old container profiles) does not change their answer.
        for (f, unfaulted) in clone_probed {
            assert_eq!(f.support(), unfaulted, "{f:?}");
        }
    }
    // ... but a kernel without CLONE_PIDFD (before 5.2) has neither (both are younger).
    {
        let _g = fault::inject(Call::Feature(Feature::ClonePidfd), libc::ENOSYS);
        for f in [Feature::WaitidPidfd, Feature::SetnsPidfd] {
            assert_eq!(f.support(), Support::Unsupported, "{f:?}");
        }
    }
    {
        let _g = fault::inject(Call::PidfdOpen, libc::EMFILE);
        for f in dependents {
            assert_eq!(f.support(), Support::Undetermined { errno: libc::EMFILE }, "{f:?}");
        }
        let e = me.info().unwrap_err();
        assert!(matches!(&e, Error::Undetermined { feature: Feature::GetInfo, .. }), "{e:?}");
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
        assert!(e.to_string().contains("could not determine"), "{e}");
    }
    // Nothing of that was cached.
    for f in dependents {
        assert!(matches!(f.support(), Support::Supported | Support::Unsupported), "{f:?}: {}", f.support());
    }
    assert_eq!(Feature::PidfdOpen.support(), Support::Supported);
}

const SIGCHLD_IGNORED: &str = "PIDFD_TEST_SIGCHLD_IGNORED";

/// With `SIGCHLD` ignored, children are auto-reaped: the probe fixture of a dead process must
/// still hold a pidfd of *its* child and give definite answers. Runs in a fresh copy of this
/// test binary, since the disposition is process-wide.
#[test]
fn probe_fixture_survives_an_ignored_sigchld() {
    if std::env::var_os(SIGCHLD_IGNORED).is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "tests::probes::probe_fixture_survives_an_ignored_sigchld",
                "--exact",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(SIGCHLD_IGNORED, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("1 passed"), "the inner test did not run: {text}");
        return;
    }
    crate::sys::test_support::ignore_sigchld();
    // A fixture made by fork + pidfd_open + waitpid failed about once in a hundred here (the
    // child auto-reaped before pidfd_open, or not yet released when waitpid said ECHILD).
    for i in 0..iterations(1000, 200) {
        let dead = PidFd::from_owned_unchecked(crate::sys::reaped_child_pidfd().unwrap());
        assert!(matches!(dead.pid(), Err(Error::Exited)), "iteration {i}: {:?}", dead.pid());
    }
    // Both probes build on pidfd_open: where a policy refuses it they answer `Denied` (checked
    // by require) and have nothing definite to give.
    if !require_all(&[Feature::InfoExit, Feature::SetnsPidfd]) {
        return;
    }
    for _ in 0..20 {
        let _g = without(Feature::InfoCoredump);
        let _h = without(Feature::SupportedMask);
        for f in [Feature::InfoExit, Feature::SetnsPidfd] {
            assert!(matches!(f.support(), Support::Supported | Support::Unsupported), "{f:?}: {}", f.support());
        }
    }
}
