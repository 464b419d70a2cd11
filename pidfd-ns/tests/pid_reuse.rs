//! PID reuse, for the namespace operations: on the pidfd of a process A that died and was
//! reaped by a plain `waitpid`, every namespace getter and every way of entering namespaces
//! reports that A exited, and none reaches the process B that now has A's pid (B lives in UTS
//! and IPC namespaces of its own, so entering "A's" namespaces by pid would move the caller
//! into B's). The lab (a child PID namespace, `ns_last_pid` forcing the reuse) is
//! `test-support/src/reuse_lab.rs`.
//!
//! `harness = false`: each case runs in a fresh single-threaded process (this binary
//! re-executed), which creates the PID namespace (as root, or inside a new user namespace) and
//! forks its init. Before 6.11 the getters take the `/proc/<pid>/ns` fallback, before 5.8
//! entering takes one namespace fd at a time: the kernel matrix runs this binary on 5.10 too.

use test_support::harness;
use test_support::reuse_lab as lab;
#[allow(dead_code, unreachable_pub)]
#[path = "it/support.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};

use lab::{B_HOSTNAME, Owner, Recycled};
use pidfd::Feature;
use pidfd_ns::{Error, Namespace, NamespaceSet, PidFdNsExt, run_in_namespaces};
use support::require;

fn main() {
    harness::main(&[
        ("every_namespace_operation_on_a_recycled_pid_as_root", || lab::run_as_init(Owner::Root, operations)),
        ("every_namespace_operation_on_a_recycled_pid_in_a_user_namespace", || {
            lab::run_as_init(Owner::UserNamespace, operations)
        }),
    ]);
}

#[track_caller]
fn exited<T: std::fmt::Debug>(what: &str, r: pidfd_ns::Result<T>) {
    match r {
        Err(Error::Pidfd(pidfd::Error::Exited)) => {}
        other => panic!("{what} on the pidfd of a reaped process whose pid was reused: {other:?}, not Exited"),
    }
}

/// Every namespace inode of the calling thread.
fn my_namespaces() -> Vec<(Namespace, Option<u64>)> {
    use std::os::unix::fs::MetadataExt;
    Namespace::ALL
        .iter()
        .map(|&ns| (ns, std::fs::metadata(format!("/proc/thread-self/ns/{}", ns.proc_name())).ok().map(|m| m.ino())))
        .collect()
}

fn operations() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    let Some(Recycled { pid, a, a_nonblocking, b, .. }) = lab::recycle() else { return };
    assert_ne!(lab::my_ns_inode("uts"), b.ns_inode("uts"), "B has a UTS namespace of its own");
    assert_ne!(lab::my_ns_inode("ipc"), b.ns_inode("ipc"), "B has an IPC namespace of its own");
    let mine = my_namespaces();
    let handles: Vec<&pidfd::PidFd> = std::iter::once(&a).chain(a_nonblocking.as_ref()).collect();

    for fd in &handles {
        for ns in Namespace::ALL {
            exited(&format!("namespace({ns})"), fd.namespace(ns));
        }
        let mut sets: Vec<NamespaceSet> = NamespaceSet::all().iter().collect();
        sets.extend([NamespaceSet::UTS | NamespaceSet::IPC, NamespaceSet::all()]);
        for set in sets {
            exited(&format!("enter_namespaces({set:?})"), fd.enter_namespaces(set));
            assert_eq!(my_namespaces(), mine, "enter_namespaces({set:?}) on A's pidfd moved the caller");
            let ran = AtomicBool::new(false);
            let r = run_in_namespaces(fd, set, || {
                ran.store(true, Ordering::SeqCst);
                std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()
            });
            match r {
                Ok(host) => panic!("run_in_namespaces({set:?}) ran in namespaces of pid {pid} (hostname {host:?})"),
                Err(e) => exited(&format!("run_in_namespaces({set:?})"), Err::<(), _>(e)),
            }
            assert!(!ran.load(Ordering::SeqCst), "run_in_namespaces({set:?}) ran the closure");
        }
    }
    assert_ne!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), B_HOSTNAME);

    b.assert_untouched();
    b.finish();
}
