//! What only a single-threaded process may do: enter user and time namespaces.
//!
//! `harness = false`: no test threads. Each case runs in a fresh child process (this binary
//! re-executed with the case's name, by `test-support/src/harness.rs`), because entering a
//! user namespace cannot be undone.

use test_support::harness;
#[allow(dead_code, unreachable_pub)]
#[path = "it/support.rs"]
mod support;

use pidfd::Feature;
use pidfd_ns::{Error, Namespace, NamespaceSet, NsFd, PidFdNsExt, run_in_namespaces};

use support::{Held, Setup, can_open_pidfds, hostname, kernel_has, proc_ino, require, thread_ino};

const CASES: [(&str, fn()); 5] = [
    ("user_and_uts_atomically", user_and_uts_atomically),
    ("user_then_uts_one_by_one", user_then_uts_one_by_one),
    ("time", time),
    ("run_in_namespaces_refuses_a_user_namespace", run_in_namespaces_refuses_a_user_namespace),
    (
        "an_unprivileged_owner_enters_its_user_namespace_and_what_it_owns",
        an_unprivileged_owner_enters_its_user_namespace_and_what_it_owns,
    ),
];

fn main() {
    if std::env::var_os(harness::CASE_ENV).is_some() {
        assert_eq!(threads(), 1, "the case must run single-threaded");
    }
    harness::main(&CASES);
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `setns(pidfd, CLONE_NEWUSER | CLONE_NEWUTS)` (the fallback on kernels without it).
fn user_and_uts_atomically() {
    if !can_open_pidfds() {
        return;
    }
    let _ = require(Feature::SetnsPidfd);
    let held = Held::waiting(
        libc::CLONE_NEWUSER | libc::CLONE_NEWUTS,
        Setup { hostname: Some("ns-st-atomic"), ..Setup::default() },
    );
    held.fd.enter_namespaces(NamespaceSet::USER | NamespaceSet::UTS).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
    assert_eq!(hostname(), "ns-st-atomic");
}

/// `NsFd::enter` for the user namespace, then (with the capabilities it grants) the UTS
/// namespace it owns.
fn user_then_uts_one_by_one() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(
        libc::CLONE_NEWUSER | libc::CLONE_NEWUTS,
        Setup { hostname: Some("ns-st-each"), ..Setup::default() },
    );
    let user = held.fd.namespace(Namespace::User).unwrap();
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    user.enter().unwrap();
    assert_eq!(thread_ino(Namespace::User), user.id().unwrap());
    // Entering it again is refused by the kernel; the error says why.
    assert!(matches!(user.enter(), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    uts.enter().unwrap();
    assert_eq!(hostname(), "ns-st-each");
}

/// Time namespaces: the process and its future children move.
fn time() {
    if !kernel_has(Namespace::Time) {
        eprintln!("skipped: no time namespaces (Linux 5.6+)");
        return;
    }
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(pidfd_sys::CLONE_NEWTIME, Setup::default());
    let theirs = proc_ino(held.pid, Namespace::Time).expect("time namespaces (5.6+)");
    assert_ne!(thread_ino(Namespace::Time), theirs, "the child lives in its new time namespace");
    let mine = NsFd::of_current_thread(Namespace::Time).unwrap();
    held.fd.enter_namespaces(NamespaceSet::TIME).unwrap();
    assert_eq!(thread_ino(Namespace::Time), theirs);
    assert_eq!(thread_ino(Namespace::TimeForChildren), theirs);
    // Back to where we came from, through the nsfd kept before.
    mine.enter().unwrap();
    assert_eq!(thread_ino(Namespace::Time), mine.id().unwrap());
}

/// Even a single-threaded caller becomes multi-threaded with the fresh thread.
fn run_in_namespaces_refuses_a_user_namespace() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWUSER, Setup::default());
    let e = run_in_namespaces(&held.fd, NamespaceSet::USER, || ()).unwrap_err();
    assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
    // This process itself can.
    held.fd.enter_namespaces(NamespaceSet::USER).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
}

/// An unprivileged user who owns a user namespace enters it and a UTS namespace it owns. With
/// `setns(pidfd)` the kernel enters the user namespace first; without it (before 5.8) the
/// fallback is refused the UTS namespace with the caller's own credentials, enters the user
/// namespace, then the UTS namespace inside it.
fn an_unprivileged_owner_enters_its_user_namespace_and_what_it_owns() {
    if !can_open_pidfds() {
        return;
    }
    let setup = Setup { uid: Some(65534), hostname: Some("ns-st-owner"), ..Setup::default() };
    let held = match Held::new(libc::CLONE_NEWUSER | libc::CLONE_NEWUTS, setup, "echo ready; read x") {
        Ok(h) => h,
        Err(e) => {
            eprintln!("skipped: unprivileged user namespaces are not allowed here: {e}");
            return;
        }
    };
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    // Become that user (this process is single-threaded: the libc calls change all of it).
    // SAFETY: plain integer arguments (and an empty list).
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "{}", std::io::Error::last_os_error());
        assert_eq!(libc::setresgid(65534, 65534, 65534), 0, "{}", std::io::Error::last_os_error());
        assert_eq!(libc::setresuid(65534, 65534, 65534), 0, "{}", std::io::Error::last_os_error());
    }
    // Without the user namespace, the UTS namespace is refused.
    let e = uts.enter().unwrap_err();
    assert!(matches!(e, Error::Pidfd(pidfd::Error::PermissionDenied { .. })), "{e:?}");
    held.fd.enter_namespaces(NamespaceSet::USER | NamespaceSet::UTS).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
    assert_eq!(thread_ino(Namespace::Uts), uts.id().unwrap());
    assert_eq!(hostname(), "ns-st-owner");
}
