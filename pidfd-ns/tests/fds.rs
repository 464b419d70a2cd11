//! File descriptors, for the namespace operations: thousands of succeeding and failing calls
//! (namespace getters, `NsFd` queries, entering and `run_in_namespaces`) leave the fd table
//! exactly as it was, and every fd `pidfd-ns` creates is close-on-exec (a plain
//! `std::process::Command` child, spawned while many `NsFd`s are alive, holds nothing a child
//! spawned before them did not).
//!
//! A binary of its own, one test at a time (`serial`): counting `/proc/self/fd` beside other
//! tests would race. Iterations: on the host as below; under the kernel matrix
//! (`PIDFD_TEST_EXPECT` set, QEMU TCG) a hundredth, at least 3.

#[allow(dead_code, unreachable_pub)]
#[path = "it/support.rs"]
mod support;

use fd_table::{inherited, leaves_no_fd, serial};
use test_support::fd_table;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use pidfd::{Feature, PidFd};
use pidfd_ns::{Error, Namespace, NamespaceSet, NsFd, PidFdNsExt, run_in_namespaces};
use support::{Held, Setup, all_new, require};

fn dev_null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

/// A child in new namespaces of every kind the kernel has (as root), and one that has exited
/// and been reaped (its pidfd names a dead process).
fn subjects() -> (Held, PidFd) {
    let held = Held::waiting(all_new(), Setup { hostname: Some("pidfd-ns-fds"), ..Setup::default() });
    let mut gone = Held::waiting(0, Setup::default());
    gone.release();
    gone.fd.wait().unwrap();
    let gone_fd = gone.fd.try_clone().unwrap();
    (held, gone_fd)
}

#[test]
fn namespace_getters() {
    let _serial = serial();
    if !require(Feature::PidfdOpen) {
        return;
    }
    let me = PidFd::from_self().unwrap();
    let (held, gone) = subjects();
    leaves_no_fd("namespace getters", 1000, |_| {
        for ns in Namespace::ALL {
            drop(me.namespace(ns));
            drop(held.fd.namespace(ns));
            assert!(matches!(gone.namespace(ns), Err(Error::Pidfd(pidfd::Error::Exited))));
            drop(NsFd::of_current_thread(ns));
        }
    });
}

#[test]
fn nsfd_queries() {
    let _serial = serial();
    if !require(Feature::PidfdOpen) || !require(Feature::PidfdSendSignal) {
        return;
    }
    let (held, _gone) = subjects();
    let init = Held::with_init(libc::CLONE_NEWPID, Setup::default());
    let (init_fd, _) = init.init.as_ref().unwrap();
    let child_pidns = init_fd.namespace(Namespace::Pid).unwrap();
    let mine: Vec<NsFd> = Namespace::ALL.iter().filter_map(|&ns| NsFd::of_current_thread(ns).ok()).collect();
    let theirs: Vec<NsFd> = Namespace::ALL.iter().filter_map(|&ns| held.fd.namespace(ns).ok()).collect();
    // SAFETY: no arguments.
    let tid = unsafe { libc::gettid() };
    leaves_no_fd("NsFd queries", 1000, |_| {
        for ns in mine.iter().chain(&theirs).chain([&child_pidns]) {
            let _ = ns.id();
            let _ = ns.unique_id();
            let _ = ns.namespace_type();
            let _ = ns.is_same_namespace(&child_pidns);
            drop(ns.owning_user_namespace());
            drop(ns.parent());
            let _ = ns.owner_uid();
            for pid in [tid, 1, 0, -1, i32::MAX] {
                let _ = ns.pid_in_namespace(pid);
                let _ = ns.tgid_in_namespace(pid);
                let _ = ns.pid_from_namespace(pid);
                let _ = ns.tgid_from_namespace(pid);
            }
            drop(ns.try_clone());
        }
        drop(NsFd::try_from(dev_null()));
        drop(NsFd::try_from(OwnedFd::from(PidFd::from_self().unwrap())));
        drop(NsFd::try_from(OwnedFd::from(child_pidns.try_clone().unwrap())));
    });
}

/// Entering: the failures (bad sets, a dead process, the kernel's refusals) and the successes
/// of `run_in_namespaces`, whose thread enters and ends.
#[test]
fn entering_and_its_failures() {
    let _serial = serial();
    if !require(Feature::PidfdOpen) {
        return;
    }
    let me = PidFd::from_self().unwrap();
    let (held, gone) = subjects();
    let my_user = NsFd::of_current_thread(Namespace::User).unwrap();
    leaves_no_fd("entering", 300, |_| {
        assert!(matches!(me.enter_namespaces(NamespaceSet::empty()), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
        assert!(matches!(
            me.enter_namespaces(NamespaceSet::from_bits_retain(libc::CLONE_VM as u32)),
            Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))
        ));
        assert!(matches!(gone.enter_namespaces(NamespaceSet::UTS), Err(Error::Pidfd(pidfd::Error::Exited))));
        assert!(matches!(run_in_namespaces(&gone, NamespaceSet::NET, || ()), Err(Error::Pidfd(pidfd::Error::Exited))));
        assert!(matches!(run_in_namespaces(&held.fd, NamespaceSet::USER, || ()), Err(Error::MultiThreaded { .. })));
        // This thread is already in its user namespace: the kernel refuses to enter it again.
        assert!(my_user.enter().is_err());
        let host = run_in_namespaces(&held.fd, NamespaceSet::UTS | NamespaceSet::IPC | NamespaceSet::NET, || {
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap()
        })
        .unwrap();
        assert_eq!(host.trim(), "pidfd-ns-fds");
        let _ = run_in_namespaces(&held.fd, NamespaceSet::MOUNT | NamespaceSet::CGROUP, || ());
        let _ = run_in_namespaces(&held.fd, NamespaceSet::PID, || ());
    });
}

#[test]
fn every_nsfd_is_close_on_exec() {
    let _serial = serial();
    if !require(Feature::PidfdOpen) {
        return;
    }
    let baseline = inherited();
    let (held, _gone) = subjects();
    let mut alive: Vec<NsFd> = Vec::new();
    for ns in Namespace::ALL {
        alive.extend(PidFd::from_self().unwrap().namespace(ns));
        alive.extend(held.fd.namespace(ns));
        alive.extend(NsFd::of_current_thread(ns));
    }
    let more: Vec<NsFd> = alive
        .iter()
        .flat_map(|ns| [ns.owning_user_namespace().ok(), ns.parent().ok(), ns.try_clone().ok()])
        .flatten()
        .collect();
    alive.extend(more);
    alive.extend(NsFd::try_from(OwnedFd::from(alive[0].try_clone().unwrap())));
    let after = inherited();
    let leaked: BTreeMap<_, _> = after.iter().filter(|(fd, _)| !baseline.contains_key(fd)).collect();
    assert!(
        leaked.is_empty(),
        "a plain child inherited namespace fds without close-on-exec: {leaked:?}\n(a child spawned before them held {baseline:?})"
    );
    drop(alive);
}
