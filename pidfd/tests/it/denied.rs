//! Where a security policy refuses the pidfd system calls, as old Docker and containerd seccomp
//! profiles do (`pidfd_open`, `pidfd_send_signal` and `pidfd_getfd` answer `EPERM`, `clone3`
//! `ENOSYS`; the kernel matrix's `container-eperm` row): operations that need a refused call
//! fail with `Error::Denied` or `Error::PermissionDenied` carrying the errno, the refusal is
//! never cached, `pidfd::Command` still spawns and waits (`clone(CLONE_PIDFD)`, the `clone3`
//! fallback), and a signal to our own unreaped child still arrives (by its pid, 5.4+). Where
//! the calls are allowed, the same calls succeed. Every check follows what the probe says, so
//! this file runs (and checks something) on every row.
//!
//! Whether a refused probe runs again on the next call is not observable from outside the
//! crate (a seccomp `EPERM` leaves no trace): what is observable is that the answer stays
//! `Denied` (a cached answer could only be `Supported` or `Unsupported`) and that operations
//! keep failing with `Denied`, not `Unsupported`. The re-probe itself is shown by the unit
//! tests `seccomp_eperm_is_denied_not_unsupported` (the same probe answers `Supported` once the
//! injected refusal is gone) and `only_definite_answers_are_cached` in `src/tests/fallbacks.rs`.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;

use pidfd::{Command, Error, Feature, PidFd, Stdio, Support};

use crate::support::denied;

/// The probe's answer, checked against the kernel matrix's row: where `PIDFD_TEST_DENIED` lists
/// the feature, it must be a refusal.
fn probe(f: Feature) -> Support {
    let s = f.support();
    if denied().iter().any(|d| d == f.name()) {
        assert!(matches!(s, Support::Denied { .. }), "PIDFD_TEST_DENIED lists {}, the probe says {s}", f.name());
    }
    s
}

/// `e` is the refusal `errno`, as the crate's error and as an `io::Error` (by the one rule:
/// `PermissionDenied` is its errno, the OS error; `Denied` says more, the feature, so it is kept
/// inside an `io::Error` of the errno's kind).
fn assert_refused(e: Error, feature: Feature, errno: i32) {
    let denied = match &e {
        Error::Denied { feature: f, .. } => {
            assert_eq!(*f, feature, "{e:?}");
            true
        }
        Error::PermissionDenied { .. } => false,
        other => panic!("{feature:?}: expected Denied or PermissionDenied, got {other:?}"),
    };
    assert_eq!(e.raw_os_error(), Some(errno), "{e:?}");
    assert!(!e.to_string().is_empty());
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::Error::from_raw_os_error(errno).kind());
    if denied {
        let inner = io.get_ref().and_then(|i| i.downcast_ref::<Error>());
        assert!(
            matches!(inner, Some(Error::Denied { feature: f, source }) if *f == feature && source.raw_os_error() == Some(errno)),
            "{io:?}"
        );
    } else {
        assert_eq!(io.raw_os_error(), Some(errno));
    }
}

/// A `sh -c 'read x; exit <code>'` child from `pidfd::Command`, which needs none of the refused
/// calls (the vfork `clone(CLONE_PIDFD)`; `clone3` is not used for it).
fn waiting_child(code: i32) -> pidfd::Child {
    Command::new("sh").args(["-c", &format!("read x; exit {code}")]).stdin(Stdio::Piped).spawn().unwrap()
}

#[test]
fn open_follows_the_probe() {
    let me = std::process::id() as i32;
    match probe(Feature::PidfdOpen) {
        Support::Denied { errno } => {
            if denied().iter().any(|d| d == "pidfd_open") {
                assert_eq!(errno, libc::EPERM, "the container profile answers EPERM");
            }
            for _ in 0..3 {
                assert_refused(PidFd::open(me).unwrap_err(), Feature::PidfdOpen, errno);
                let e = PidFd::from_self().unwrap_err();
                assert!(matches!(e, Error::Denied { feature: Feature::PidfdOpen, .. }), "{e:?}");
                assert_refused(e, Feature::PidfdOpen, errno);
                // Not cached as "the kernel lacks it": the answer stays a refusal.
                assert_eq!(Feature::PidfdOpen.support(), Support::Denied { errno });
                assert!(!Feature::PidfdOpen.is_supported());
                assert_eq!(pidfd::features().support(Feature::PidfdOpen), Some(Support::Denied { errno }));
            }
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let e = PidFd::from_child(&child).unwrap_err();
            assert!(matches!(e, Error::Denied { feature: Feature::PidfdOpen, .. }), "{e:?}");
            child.wait().unwrap();
            // pidfd::spawn's child would open its own pidfd: nothing is spawned, the refusal
            // comes back.
            let e = pidfd::spawn(&mut std::process::Command::new("true")).unwrap_err();
            assert!(matches!(e, Error::Denied { feature: Feature::PidfdOpen, .. }), "{e:?}");
            assert_refused(e, Feature::PidfdOpen, errno);
        }
        Support::Supported => {
            assert_eq!(PidFd::open(me).unwrap().pid().unwrap(), me);
            assert_eq!(PidFd::from_self().unwrap().pid().unwrap(), me);
            let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
            let fd = PidFd::from_child(&child).unwrap();
            assert_eq!(fd.pid().unwrap(), child.id() as i32);
            child.kill().unwrap();
            child.wait().unwrap();
            let (_c, fd) = pidfd::spawn(std::process::Command::new("sh").args(["-c", "exit 5"])).unwrap();
            assert_eq!(fd.wait().unwrap().code(), Some(5));
        }
        other => eprintln!("skipped: pidfd_open is neither allowed nor refused here: {other}"),
    }
}

#[test]
fn command_spawns_and_waits_whatever_the_probe_says() {
    // The vfork clone with CLONE_PIDFD, without clone3 and without pidfd_open.
    let mut child = waiting_child(42);
    assert_eq!(child.pidfd().pid().unwrap(), child.id() as i32, "the pidfd names the child (fdinfo)");
    assert_eq!(child.try_wait().unwrap(), None, "still running");
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(42));
    assert_eq!(child.pidfd().wait().unwrap(), st, "the status is remembered");
    assert_eq!(child.try_wait().unwrap(), Some(st));
    // Output and exit codes, many times over.
    for code in [0, 1, 7, 255] {
        let out = Command::new("sh").args(["-c", &format!("echo out-$$; exit {code}")]).output().unwrap();
        assert_eq!(out.status.code(), Some(code));
        assert!(String::from_utf8(out.stdout).unwrap().starts_with("out-"));
    }
    // A death by a signal the child sends itself (kill(2), not a pidfd).
    let st = Command::new("sh").args(["-c", "kill -9 $$"]).status().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    // With clone3 refused (ENOSYS), a cgroup placement takes the clone path; the placement
    // itself is checked by command::cgroup_placement.
    if Feature::Clone3.support() == Support::Unsupported {
        assert!(!Feature::CloneIntoCgroup.is_supported());
    }
    // An exec failure still comes back with its errno.
    let e = Command::new("/nonexistent/program").spawn().unwrap_err();
    assert!(e.raw_os_error() == Some(libc::ENOENT), "{e}");
}

#[test]
fn signals_follow_the_probe() {
    let mut child = waiting_child(3);
    match probe(Feature::PidfdSendSignal) {
        Support::Denied { errno } => {
            if denied().iter().any(|d| d == "pidfd_send_signal") {
                assert_eq!(errno, libc::EPERM, "the container profile answers EPERM");
            }
            let dup = child.pidfd().try_clone().unwrap();
            if Feature::WaitidPidfd.is_supported() {
                // Our own child, not reaped: the signal goes by its pid, which names it until then.
                child.pidfd().send_signal(0).unwrap();
                assert_eq!(child.try_wait().unwrap(), None, "signal 0 did something");
                child.pidfd().send_signal(libc::SIGTERM).unwrap();
                assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
                assert!(matches!(child.pidfd().kill(), Err(Error::Exited)), "reaped through this PidFd");
                // `Child::kill` answers as std's: the child has exited.
                child.kill().unwrap();
            } else {
                // The typed error is inside `Child::kill`'s io::Error.
                let e = child.kill().unwrap_err().into_inner().unwrap().downcast::<Error>().unwrap();
                assert_refused(*e, Feature::PidfdSendSignal, errno);
                child.stdin.take().unwrap().write_all(b"\n").unwrap();
                assert_eq!(child.wait().unwrap().code(), Some(3));
            }
            // Reaped, seen through a duplicate that did not reap it: the pid is not ours any
            // more; the refusal comes back, every time (never cached).
            for _ in 0..3 {
                assert_refused(dup.send_signal(0).unwrap_err(), Feature::PidfdSendSignal, errno);
                assert_refused(dup.send_signal(libc::SIGTERM).unwrap_err(), Feature::PidfdSendSignal, errno);
                assert!(matches!(Feature::PidfdSendSignal.support(), Support::Denied { .. }));
            }
        }
        Support::Supported => {
            child.pidfd().send_signal(0).unwrap();
            child.pidfd().send_signal(libc::SIGTERM).unwrap();
            assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
            assert!(matches!(child.pidfd().kill(), Err(Error::Exited)));
            // `Child::kill` answers as std's: the child has exited.
            child.kill().unwrap();
        }
        other => {
            eprintln!("skipped: pidfd_send_signal is neither allowed nor refused here: {other}");
            child.stdin.take().unwrap().write_all(b"\n").unwrap();
            assert_eq!(child.wait().unwrap().code(), Some(3));
        }
    }
}

#[test]
fn get_fd_follows_the_probe() {
    let mut child =
        Command::new("sh").args(["-c", "echo ready; read x"]).stdin(Stdio::Piped).stdout(Stdio::Piped).spawn().unwrap();
    let mut ready = [0u8; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut ready).unwrap();
    match probe(Feature::PidfdGetfd) {
        Support::Denied { errno } => {
            for _ in 0..3 {
                assert_refused(child.pidfd().get_fd(0).unwrap_err(), Feature::PidfdGetfd, errno);
            }
        }
        Support::Supported => match child.pidfd().get_fd(0) {
            Ok(_) => {}
            // ptrace access may be refused by the kernel's own rules (Yama): not a probe matter.
            Err(Error::PermissionDenied { .. }) => eprintln!("pidfd_getfd: no ptrace access here"),
            Err(e) => panic!("{e:?}"),
        },
        other => eprintln!("skipped: pidfd_getfd is neither allowed nor refused here: {other}"),
    }
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
}

/// Every probe answers, and a refused one says so in the report, under any policy.
#[test]
fn features_report_refusals_without_panicking() {
    let report = pidfd::features();
    for (f, s) in report.iter() {
        if let Support::Denied { errno } = s {
            assert!(errno == libc::EPERM || errno == libc::EACCES, "{}: {s}", f.name());
        }
    }
    assert!(report.to_string().contains("pidfd_open"));
    assert_eq!(report.iter().count(), Feature::ALL.len());
}
