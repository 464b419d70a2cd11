//! What only a single-threaded process may do: enter user and time namespaces.
//!
//! `harness = false`: no test threads. Each case runs in a fresh child process (this binary
//! re-executed with the case's name), because entering a user namespace cannot be undone.

#[allow(dead_code, unreachable_pub)]
#[path = "it/support.rs"]
mod support;

use pidfd::Feature;
use pidfd_ns::{Error, Namespace, NamespaceSet, NsFd, PidFdNsExt, run_in_namespaces};

use support::{Held, Setup, hostname, kernel_has, proc_ino, require, thread_ino};

const CASES: [(&str, fn()); 4] = [
    ("user_and_uts_atomically", user_and_uts_atomically),
    ("user_then_uts_one_by_one", user_then_uts_one_by_one),
    ("time", time),
    ("run_in_namespaces_refuses_a_user_namespace", run_in_namespaces_refuses_a_user_namespace),
];

fn main() {
    if let Some(name) = std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        let (_, case) = CASES.iter().find(|(n, _)| *n == name).expect("unknown case");
        assert_eq!(threads(), 1, "the case must run single-threaded");
        case();
        println!("ok");
        return;
    }
    let me = std::env::current_exe().unwrap();
    let mut failed = Vec::new();
    for (name, _) in CASES {
        let out = std::process::Command::new(&me).arg(name).output().unwrap();
        let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).trim_end().ends_with("ok");
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            eprintln!(
                "---- {name} ----\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `setns(pidfd, CLONE_NEWUSER | CLONE_NEWUTS)` (the fallback on kernels without it).
fn user_and_uts_atomically() {
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
    let held = Held::waiting(
        libc::CLONE_NEWUSER | libc::CLONE_NEWUTS,
        Setup { hostname: Some("ns-st-each"), ..Setup::default() },
    );
    let user = held.fd.namespace(Namespace::User).unwrap();
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    user.enter().unwrap();
    assert_eq!(thread_ino(Namespace::User), user.id().unwrap());
    // Entering it again is refused by the kernel; the error says why.
    assert!(matches!(user.enter(), Err(Error::InvalidInput(_))));
    uts.enter().unwrap();
    assert_eq!(hostname(), "ns-st-each");
}

/// Time namespaces: the process and its future children move.
fn time() {
    if !kernel_has(Namespace::Time) {
        eprintln!("skipped: no time namespaces (Linux 5.6+)");
        return;
    }
    let held = Held::waiting(pidfd_sys::CLONE_NEWTIME, Setup::default());
    let theirs = proc_ino(held.pid, Namespace::Time).expect("time namespaces (5.6+)");
    assert_ne!(thread_ino(Namespace::Time), theirs, "exec moved the child into its new time namespace");
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
    let held = Held::waiting(libc::CLONE_NEWUSER, Setup::default());
    let e = run_in_namespaces(&held.fd, NamespaceSet::USER, || ()).unwrap_err();
    assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
    // This process itself can.
    held.fd.enter_namespaces(NamespaceSet::USER).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
}
