//! PID namespaces: translation of pids into and out of one, the parent, and children spawned
//! from a thread that entered one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use pidfd::{Feature, PidFd};
use pidfd_ns::{Error, Namespace, NamespaceSet, PidFdNsExt, run_in_namespaces};

use crate::support::{Held, Setup, can_hold_an_init, nspid, require, thread_ino};

/// A shell that unshared its PID namespace and started `sleep` there (pid 1 inside), with
/// the sleep's pidfd and pid as the test sees it.
fn pid_namespace_with_init() -> (Held, PidFd, i32) {
    let held = Held::with_init(libc::CLONE_NEWPID, Setup::default());
    let (init, outer) = held.init.as_ref().unwrap();
    let (init, outer) = (init.try_clone().unwrap(), *outer);
    (held, init, outer)
}

/// Pid translation (`NS_GET_*_PIDNS`) came with the pidfd namespace ioctls (both 6.11): when
/// it answers `Unsupported`, those must be missing too, and under the kernel matrix that must
/// be what the kernel is expected to lack.
fn translation_unsupported(r: &Result<i32, Error>) -> bool {
    if !matches!(r, Err(Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsPidTranslation }))) {
        return false;
    }
    assert!(
        !require(Feature::NamespaceIoctls),
        "PIDFD_GET_*_NAMESPACE (6.11) works, but pid translation (6.11) says {r:?}"
    );
    true
}

#[test]
fn pids_translate_into_and_out_of_a_pid_namespace() {
    if !can_hold_an_init() {
        return;
    }
    let (held, init, outer) = pid_namespace_with_init();
    let pidns = init.namespace(Namespace::Pid).unwrap();
    let for_children = held.fd.namespace(Namespace::PidForChildren).unwrap();
    assert!(pidns.is_same_namespace(&for_children).unwrap());
    // The kernel's other witness: /proc/<pid>/status lists the pid in each namespace.
    assert_eq!(nspid(outer), [outer, 1], "the sleep is init of the new namespace");
    let translated = pidns.pid_in_namespace(outer);
    if translation_unsupported(&translated) {
        return;
    }
    assert_eq!(translated.unwrap(), 1, "the sleep is init there");
    assert_eq!(pidns.tgid_in_namespace(outer).unwrap(), 1);
    assert_eq!(pidns.pid_from_namespace(1).unwrap(), outer);
    assert_eq!(for_children.tgid_from_namespace(1).unwrap(), outer);
    // The shell lives outside that namespace: it has no pid there (/proc lists only ours).
    assert_eq!(nspid(held.pid), [held.pid]);
    assert!(
        matches!(pidns.pid_in_namespace(held.pid), Err(Error::Pidfd(pidfd::Error::NoSuchProcess { pid })) if pid == held.pid)
    );
    // No task has this pid there (pid_max is at most 2^22); some kernels answer ENOTTY for
    // it rather than ESRCH (6.16 to 6.19 before a fix), which the library tells apart.
    let pid_max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    for missing in [pid_max, 4_194_305, i32::MAX] {
        let r = pidns.pid_from_namespace(missing);
        assert!(
            matches!(r, Err(Error::Pidfd(pidfd::Error::NoSuchProcess { pid })) if pid == missing),
            "{missing}: {r:?}"
        );
        let r = pidns.tgid_in_namespace(missing);
        assert!(
            matches!(r, Err(Error::Pidfd(pidfd::Error::NoSuchProcess { pid })) if pid == missing),
            "{missing}: {r:?}"
        );
    }
    // Our own PID namespace maps pids to themselves.
    let mine = PidFd::from_self().unwrap().namespace(Namespace::Pid).unwrap();
    let me = std::process::id() as i32;
    assert_eq!(mine.pid_in_namespace(me).unwrap(), me);
    assert_eq!(mine.pid_from_namespace(outer).unwrap(), outer);
}

#[test]
fn the_parent_of_a_child_pid_namespace_is_ours() {
    if !can_hold_an_init() {
        return;
    }
    let (_held, init, _) = pid_namespace_with_init();
    let pidns = init.namespace(Namespace::Pid).unwrap();
    let parent = pidns.parent().unwrap();
    assert_eq!(parent.namespace(), Namespace::Pid);
    assert_eq!(parent.id().unwrap(), thread_ino(Namespace::Pid));
    // The initial namespace (ours, here) has no parent.
    if parent.parent().is_ok() {
        eprintln!("this test runs in a nested PID namespace");
    } else {
        assert!(matches!(parent.parent(), Err(Error::Pidfd(pidfd::Error::PermissionDenied { .. }))));
    }
}

#[test]
fn children_of_a_thread_in_a_pid_namespace_are_created_there() {
    if !can_hold_an_init() {
        return;
    }
    // Without setns(pidfd) the per-namespace fallback runs: nothing to skip, but under the
    // kernel matrix a missing probe is a failure.
    let _ = require(Feature::SetnsPidfd);
    let (_held, init, _) = pid_namespace_with_init();
    let pidns = init.namespace(Namespace::Pid).unwrap();
    let (outer, inner) = run_in_namespaces(&init, NamespaceSet::PID, || {
        let mut child = Command::new("sh")
            .args(["-c", "echo $$; read x"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        (child, line.trim().parse::<i32>().unwrap())
    })
    .unwrap();
    let mut outer = outer;
    let outer_pid = outer.id() as i32;
    assert!(inner > 1, "pid 1 is the sleep");
    assert_ne!(inner, outer_pid);
    // The kernel's other witness, /proc: the child's pid there and in its namespace.
    assert_eq!(nspid(outer_pid), [outer_pid, inner]);
    let translated = pidns.pid_in_namespace(outer_pid);
    if !translation_unsupported(&translated) {
        assert_eq!(translated.unwrap(), inner);
    }
    drop(outer.stdin.take());
    outer.wait().unwrap();
}
