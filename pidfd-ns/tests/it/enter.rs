//! Entering a child's namespaces on threads of the test: what the thread sees is the child's,
//! and the test's own thread is untouched.

use std::os::unix::fs::MetadataExt;

use pidfd::Feature;
use pidfd_ns::{Error, Namespace, NamespaceSet, PidFdNsExt, run_in_namespaces};

use crate::support::{
    Held, Setup, can_open_pidfds, hostname, interfaces, kernel_has, proc_ino, require, thread_ino, thread_inos,
};

#[test]
fn a_thread_in_the_childs_uts_namespace_sees_its_hostname() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWUTS, Setup { hostname: Some("ns-uts-child"), ..Setup::default() });
    let mine = hostname();
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    let (name, ino) = std::thread::spawn(move || {
        uts.enter().unwrap();
        (hostname(), thread_ino(Namespace::Uts))
    })
    .join()
    .unwrap();
    assert_eq!(name, "ns-uts-child");
    assert_eq!(Some(ino), proc_ino(held.pid, Namespace::Uts));
    assert_eq!(hostname(), mine, "the test's thread keeps its hostname");
}

#[test]
fn a_thread_in_the_childs_net_namespace_sees_only_loopback() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWNET, Setup::default());
    let (ifaces, ino) =
        run_in_namespaces(&held.fd, NamespaceSet::NET, || (interfaces(), thread_ino(Namespace::Net))).unwrap();
    assert_eq!(ifaces, ["lo"]);
    assert_eq!(Some(ino), proc_ino(held.pid, Namespace::Net));
    assert_ne!(thread_ino(Namespace::Net), ino, "the test's thread stays in its own");
}

#[test]
fn enter_namespaces_moves_only_the_calling_thread() {
    if !can_open_pidfds() {
        return;
    }
    let _ = require(Feature::SetnsPidfd);
    let held = Held::waiting(
        libc::CLONE_NEWUTS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWCGROUP,
        Setup { hostname: Some("ns-enter-all"), ..Setup::default() },
    );
    let before = thread_inos();
    let set = NamespaceSet::UTS | NamespaceSet::NET | NamespaceSet::IPC | NamespaceSet::CGROUP;
    std::thread::scope(|s| {
        s.spawn(|| {
            held.fd.enter_namespaces(set).unwrap();
            assert_eq!(hostname(), "ns-enter-all");
            for ns in set.namespaces() {
                assert_eq!(Some(thread_ino(ns)), proc_ino(held.pid, ns), "{ns}");
            }
        });
    });
    assert_eq!(thread_inos(), before);
}

#[test]
fn run_in_namespaces_leaves_the_caller_unchanged() {
    if !can_open_pidfds() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pidfd-ns-mnt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("marker");
    let flags = libc::CLONE_NEWUTS
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID;
    let script = format!("echo hi > {}; echo ready; read x", marker.display());
    let setup =
        Setup { hostname: Some("ns-run-all"), tmpfs_at: Some(dir.to_str().unwrap().to_owned()), ..Setup::default() };
    let held = Held::new(flags, setup, &script).unwrap();
    assert_eq!(held.first_line, "ready");
    let before = thread_inos();
    let my_cwd = std::env::current_dir().unwrap();
    let set = NamespaceSet::UTS
        | NamespaceSet::NET
        | NamespaceSet::IPC
        | NamespaceSet::CGROUP
        | NamespaceSet::MOUNT
        | NamespaceSet::PID;
    let seen = run_in_namespaces(&held.fd, set, || {
        let inos: Vec<_> = [
            Namespace::Uts,
            Namespace::Net,
            Namespace::Ipc,
            Namespace::Cgroup,
            Namespace::Mount,
            Namespace::PidForChildren,
        ]
        .into_iter()
        .map(|ns| (ns, thread_ino(ns)))
        .collect();
        (inos, hostname(), std::fs::read_to_string(&marker).ok(), thread_ino(Namespace::Pid))
    })
    .unwrap();
    let (inos, name, content, own_pid_ns) = seen;
    for (ns, ino) in inos {
        // The child's PID namespace is its own (it moved only its children): the thread's
        // children go where the child is.
        let theirs = if ns == Namespace::PidForChildren { Namespace::Pid } else { ns };
        assert_eq!(Some(ino), proc_ino(held.pid, theirs), "{ns}");
    }
    assert_eq!(name, "ns-run-all");
    assert_eq!(content.as_deref(), Some("hi\n"), "the thread sees the child's tmpfs");
    assert_eq!(own_pid_ns, thread_ino(Namespace::Pid), "a thread never changes its own PID namespace");
    assert_eq!(thread_inos(), before, "the caller's namespaces are untouched");
    assert!(!marker.exists(), "the caller does not see the child's mount");
    assert_eq!(std::env::current_dir().unwrap(), my_cwd, "nor has its working directory moved");
    drop(held);
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn the_closures_result_and_panic_come_back() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWUTS, Setup { hostname: Some("ns-result"), ..Setup::default() });
    let borrowed = String::from("borrowed from the caller");
    let got = run_in_namespaces(&held.fd, NamespaceSet::UTS, || format!("{} {}", hostname(), borrowed.len())).unwrap();
    assert_eq!(got, format!("ns-result {}", borrowed.len()));
    let panicked = std::panic::catch_unwind(|| {
        let _ = run_in_namespaces(&held.fd, NamespaceSet::UTS, || panic!("inside"));
    });
    assert!(panicked.is_err());
}

#[test]
fn user_and_time_namespaces_need_a_single_threaded_process() {
    if !can_open_pidfds() {
        return;
    }
    if !kernel_has(Namespace::Time) {
        eprintln!("skipped: no time namespaces (Linux 5.6+)");
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWUSER | pidfd_sys::CLONE_NEWTIME, Setup::default());
    for (set, ns) in [(NamespaceSet::USER, Namespace::User), (NamespaceSet::TIME, Namespace::Time)] {
        let e = run_in_namespaces(&held.fd, set | NamespaceSet::UTS, || ()).unwrap_err();
        assert!(matches!(e, Error::MultiThreaded { namespace } if namespace == ns), "{e:?}");
    }
    // The kernel says the same on a thread of this multi-threaded process.
    let user = held.fd.namespace(Namespace::User).unwrap();
    let time = held.fd.namespace(Namespace::Time).unwrap();
    let before = thread_inos();
    std::thread::scope(|s| {
        s.spawn(|| {
            let e = user.enter().unwrap_err();
            assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
            let e = time.enter().unwrap_err();
            assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::Time }), "{e:?}");
            assert_eq!(e.raw_os_error(), Some(libc::EUSERS));
            let e = held.fd.enter_namespaces(NamespaceSet::TIME).unwrap_err();
            assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::Time }), "{e:?}");
            let e = held.fd.enter_namespaces(NamespaceSet::USER).unwrap_err();
            assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
        });
    });
    assert_eq!(thread_inos(), before);
}

#[test]
fn entering_an_exited_process_is_exited() {
    if !can_open_pidfds() {
        return;
    }
    let mut held = Held::waiting(libc::CLONE_NEWUTS, Setup::default());
    held.wait_zombie();
    let e = run_in_namespaces(&held.fd, NamespaceSet::UTS, || ()).unwrap_err();
    assert!(matches!(e, Error::Pidfd(pidfd::Error::Exited)), "zombie: {e:?}");
    held.child.wait().unwrap();
    let e = run_in_namespaces(&held.fd, NamespaceSet::UTS | NamespaceSet::NET, || ()).unwrap_err();
    assert!(matches!(e, Error::Pidfd(pidfd::Error::Exited)), "reaped: {e:?}");
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(held.fd.enter_namespaces(NamespaceSet::UTS), Err(Error::Pidfd(pidfd::Error::Exited))))
        });
    });
}

#[test]
fn entering_a_mount_namespace_keeps_other_threads_where_they_are() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWNS, Setup::default());
    let mnt = held.fd.namespace(Namespace::Mount).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let root_ino = std::fs::metadata("/").unwrap().ino();
    let ino = std::thread::spawn(move || {
        // Without unshare(CLONE_FS) the kernel would refuse (EINVAL): threads share it.
        mnt.enter().unwrap();
        thread_ino(Namespace::Mount)
    })
    .join()
    .unwrap();
    assert_eq!(Some(ino), proc_ino(held.pid, Namespace::Mount));
    assert_eq!(std::env::current_dir().unwrap(), cwd);
    assert_eq!(std::fs::metadata("/").unwrap().ino(), root_ino);
}
